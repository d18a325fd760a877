/**
 * The element's shadow DOM: markup with `part`s and the default styles,
 * themable through CSS custom properties.
 */

const css = /* css */ `
:host {
  display: inline-block;
  vertical-align: top;
  width: var(--world-canvas-size, 256px);
  font: 13px/1.4 system-ui, sans-serif;
  --_accent: var(--world-canvas-accent, #3b82f6);
}
:host([hidden]), [hidden] { display: none !important; }
.stage { position: relative; }
[part~='canvas'] {
  display: block;
  width: 100%;
  aspect-ratio: 1;
  /* The model draws a few dozen pixels a side: scale them up sharp, not blurred. */
  image-rendering: pixelated;
  background: #1a1a1a;
  border-radius: 4px;
}
[part~='progress'] {
  position: absolute;
  inset: auto 0 0 0;
  height: 4px;
  background: rgb(0 0 0 / 0.35);
  border-radius: 0 0 4px 4px;
  overflow: hidden;
}
.bar { height: 100%; width: 0; background: var(--_accent); transition: width 0.2s; }
[part~='controls'] { display: flex; gap: 4px; margin-top: 4px; }
[part~='input'] { flex: 1; min-width: 0; font: inherit; padding: 2px 6px; }
[part~='button'] { font: inherit; padding: 2px 8px; cursor: pointer; }
[part~='act'] { background: var(--_accent); color: #fff; border: 1px solid var(--_accent); border-radius: 3px; }
[part~='status'] { margin: 4px 0 0; min-height: 1.4em; font-size: 12px; opacity: 0.75; overflow-wrap: anywhere; }
[part~='error'] { color: #dc2626; opacity: 1; }
[part~='warning'] { color: #b45309; opacity: 1; }
[part~='guide'] { margin-top: 4px; font-size: 12px; }
[part~='guide'] summary { cursor: pointer; opacity: 0.75; }
[part~='guide'] p, [part~='guide'] ul, [part~='guide'] dl { margin: 4px 0; }
[part~='guide'] ul { padding-left: 1.2em; }
.guide-example { font: inherit; padding: 0 4px; margin: 1px 0; cursor: pointer; }
.guide-words { display: grid; grid-template-columns: auto 1fr; gap: 0 8px; }
.guide-words dd { margin: 0; }
`;

const html = /* html */ `
<div class="stage">
  <canvas part="canvas"></canvas>
  <div part="progress" role="progressbar" aria-label="loading the world model" aria-valuemin="0" aria-valuemax="100" hidden><div class="bar"></div></div>
</div>
<form part="controls" hidden>
  <input part="input" type="text" autocomplete="off" enterkeyhint="go" placeholder="Type an action…" aria-label="action" />
  <button part="button act" type="submit">Act</button>
  <button part="button play" type="button">Play</button>
  <button part="button reset" type="button">Reset</button>
</form>
<p part="status" role="status" aria-live="polite"></p>
<details part="guide" hidden><summary>What this world understands</summary><div class="guide"></div></details>
`;

let template: HTMLTemplateElement | null = null;
let sheet: CSSStyleSheet | null = null;

/** The shadow content, parsed once per page. */
export function shadowContent(): DocumentFragment {
  if (!template) {
    template = document.createElement('template');
    template.innerHTML = html;
  }
  return template.content.cloneNode(true) as DocumentFragment;
}

/**
 * The default styles as a constructed stylesheet, shared by every element:
 * adopted rather than inlined, so a strict Content-Security-Policy without
 * 'unsafe-inline' styles still applies them.
 */
export function shadowStyles(): CSSStyleSheet {
  if (!sheet) {
    sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
  }
  return sheet;
}
