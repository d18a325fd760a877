/**
 * The demo's service worker (src/sw/service-worker.js, production builds):
 * the offline app shell, and cross-origin isolation on static hosts that
 * cannot send the headers (src/sw/isolation.ts). It adds them to what it
 * serves, which a page only gets from its next load on: a page that is not
 * isolated reloads once the worker is in control, and only once per tab, so a
 * browser that ignores the worker's headers keeps running (WASM on one thread).
 */
const RELOADED = 'world-canvas:isolation-reload';

/**
 * Register the service worker. Resolves at once when the page is isolated
 * already (its server sent the headers) or cannot be made so; otherwise
 * reloads the page as soon as the worker can serve it, and never resolves.
 */
export async function registerServiceWorker(url: string): Promise<void> {
  if (!('serviceWorker' in navigator)) return;
  const sw = navigator.serviceWorker;
  let registration: ServiceWorkerRegistration;
  try {
    registration = await sw.register(url);
  } catch (e) {
    console.warn('service worker not registered:', e);
    return;
  }
  if (crossOriginIsolated) {
    sessionStorage.removeItem(RELOADED);
    return;
  }
  if (sessionStorage.getItem(RELOADED)) return; // reloaded once already, to no effect
  if (sw.controller) {
    // A worker that did not isolate this page is in control: an older version. Wait for its update, if any.
    await registration.update().catch(() => {});
    if (!registration.installing && !registration.waiting) return;
    await new Promise((resolve) => sw.addEventListener('controllerchange', resolve, { once: true }));
  } else {
    // First visit (the worker precaches the shell, then activates), or a reload that bypassed it.
    await sw.ready;
  }
  sessionStorage.setItem(RELOADED, '1');
  location.reload();
  await new Promise(() => {});
}
