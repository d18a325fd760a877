/* The demo's service worker: precaches the app shell (HTML, JS, CSS, the
 * worker scripts and ONNX Runtime's WASM) so the page opens offline. Model
 * bytes are not cached here: the runtime keeps them in IndexedDB.
 * It also serves the pages and scripts with the cross-origin isolation
 * headers, for static hosts that cannot send them (src/sw/register.ts reloads
 * a page that was loaded before it was in control).
 * The build fills in the version, the precache list and the headers (see vite.config.ts). */
const VERSION = '__VERSION__';
const PRECACHE = __PRECACHE__;
const ISOLATION_HEADERS = __ISOLATION_HEADERS__;
const CACHE = `world-canvas-shell-${VERSION}`;
const scope = new URL(self.registration.scope);
const urls = PRECACHE.map((f) => new URL(f, scope).href);

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll([scope.href, ...urls])).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith('world-canvas-shell-') && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

/** The response with the isolation headers: a page, and the workers it starts, may then share memory (WASM threads). */
function isolated(response) {
  if (!response || response.status === 0) return response; // opaque (a redirect): nothing to add to
  const headers = new Headers(response.headers);
  for (const [name, value] of Object.entries(ISOLATION_HEADERS)) headers.set(name, value);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== scope.origin) return;
  if (req.mode === 'navigate') {
    // A page: fresh when online; offline, that same page from the cache (query strings carry
    // share links and options), never another one in its place. The root is index.html.
    const page = url.pathname === scope.pathname ? scope.href : new URL(url.pathname, scope).href;
    event.respondWith(
      fetch(req)
        .catch(async () => (await caches.match(page, { ignoreSearch: true })) ?? Response.error())
        .then(isolated),
    );
    return;
  }
  if (urls.includes(url.href)) {
    // Hashed build assets never change: cache first. The worker scripts among them need the
    // headers too: a worker is isolated by its own script's response, not by its page.
    event.respondWith(caches.match(url.href).then((hit) => hit || fetch(req)).then(isolated));
  }
});
