/**
 * The world's guide (`manifest.world.guide`) as a help panel's content: the
 * kinds of actions the bundle was trained on, each with its examples, and the
 * words the world knows. Shown by the demo beside its action box and by
 * `<world-canvas>` under its controls. Text only, never markup: a manifest is
 * data from wherever the bundle came from.
 */
import type { WorldGuide } from '../contract/manifest';

/**
 * The panel's content. `onExample` makes each example a button (the demo and the element put it in
 * their action box); without it examples are plain text.
 */
export function guideContent(doc: Document, guide: WorldGuide, onExample?: (text: string) => void): DocumentFragment {
  const el = <K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text?: string) => {
    const e = doc.createElement(tag);
    e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const out = doc.createDocumentFragment();
  out.append(el('p', 'guide-intro', 'It was trained on these kinds of actions, and understands no others:'));
  const kinds = el('ul', 'guide-actions');
  for (const a of guide.actions) {
    const li = el('li', 'guide-action');
    li.append(el('strong', 'guide-kind', a.kind.replace(/_/g, ' ')), ` — ${a.description} `);
    const examples = el('span', 'guide-examples');
    a.examples.forEach((text, i) => {
      if (i) examples.append(' · ');
      if (!onExample) return void examples.append(el('q', 'guide-example', text));
      const b = el('button', 'guide-example', text);
      b.type = 'button';
      b.title = 'put it in the action box';
      b.addEventListener('click', () => onExample(text));
      examples.append(b);
    });
    li.append(examples);
    kinds.append(li);
  }
  out.append(kinds);
  if (guide.vocabulary.length) {
    const words = el('dl', 'guide-words');
    for (const v of guide.vocabulary) words.append(el('dt', 'guide-label', v.label), el('dd', 'guide-list', v.words.join(', ')));
    out.append(words);
  }
  return out;
}
