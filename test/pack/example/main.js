// @ts-check
/**
 * A page that uses the package as an app would: the element through
 * `world-canvas/element`, the API through `world-canvas`. It records the
 * element's events for the test that drives it. (JavaScript, type-checked
 * against the package's declarations by the test: the tag and the events'
 * `detail`s are typed.)
 */
import 'world-canvas/element';
import { MAX_ACTION_CHARS } from 'world-canvas';

const el = document.querySelector('world-canvas');
if (!el) throw new Error('no <world-canvas> on the page');
/** @type {{ type: string, detail: unknown }[]} */
const log = [];
el.addEventListener('ready', (e) => log.push({ type: 'ready', detail: { backend: e.detail.backend, variant: e.detail.variant, notices: e.detail.notices } }));
el.addEventListener('frame', (e) => log.push({ type: 'frame', detail: { chunk: e.detail.chunk, frame: e.detail.frame, action: e.detail.action } }));
el.addEventListener('error', (e) => log.push({ type: 'error', detail: { type: e.detail.type, message: e.detail.message } }));

Object.assign(window, {
  example: {
    log,
    maxActionChars: MAX_ACTION_CHARS,
    /** @param {string} text */
    act: (text) => el.act(text).chunk,
  },
});
