/** The embedding example: the element, with the bundle from `?bundle=` (default: the shipped model). */
import '../widget/world-canvas';

const el = document.getElementById('world') as HTMLElementTagNameMap['world-canvas'];
const params = new URLSearchParams(location.search);
el.setAttribute('src', params.get('bundle') ?? `${import.meta.env.BASE_URL}models/tabletop/`);
if (params.get('backend')) el.setAttribute('backend', params.get('backend')!);
if (params.get('threads')) el.setAttribute('threads', params.get('threads')!);
el.addEventListener('ready', () => (document.body.dataset.ready = 'true'));
el.addEventListener('error', (e) => {
  document.body.dataset.error = e.detail.message;
});
