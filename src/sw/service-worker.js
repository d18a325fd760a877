/* The demo's service worker: precaches the app shell (HTML, JS, CSS, the
 * worker scripts and ONNX Runtime's WASM) so the page opens offline. Model
 * bytes are not cached here: the runtime keeps them in IndexedDB.
 * The build fills in the version and the precache list (see vite.config.ts). */
const VERSION = '__VERSION__';
const PRECACHE = __PRECACHE__;
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
      fetch(req).catch(async () => (await caches.match(page, { ignoreSearch: true })) ?? Response.error()),
    );
    return;
  }
  if (urls.includes(url.href)) {
    // Hashed build assets never change: cache first.
    event.respondWith(caches.match(url.href).then((hit) => hit || fetch(req)));
  }
});
