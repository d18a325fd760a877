/**
 * The element entry: importing it registers `<world-canvas>` (once, however
 * many times it is imported).
 *
 * ```ts
 * import 'world-canvas/element';
 * ```
 */
import { WorldCanvasElement } from './element';

export * from './element';

declare global {
  interface HTMLElementTagNameMap {
    'world-canvas': WorldCanvasElement;
  }
}

if (typeof customElements !== 'undefined' && !customElements.get('world-canvas')) {
  customElements.define('world-canvas', WorldCanvasElement);
}
