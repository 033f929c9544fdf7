// Service worker: the app shell works offline (cache, refreshed from the network when it can be).
// Only the shell's own files are cached, each under its own URL, and a page load only when it is
// the Voice UI itself: the user port also serves the API, /docs and /openapi.json, and caching
// whatever same-origin page came along (as the shell, for every later offline start) would put
// another page, or an API answer, where the Voice UI belongs.
const CACHE = 'magec-voice-v2';
const SHELL = ['./', './index.html', './css/voice.css', './js/main.js', './js/api.js', './js/audio.js',
  './js/capture.worklet.js', './vendor/vue.esm-browser.prod.js', './manifest.webmanifest',
  './icons/icon.svg', './icons/icon-192.png', './icons/icon-512.png'];
const at = (path) => new URL(path, self.registration.scope).pathname;
const SHELL_PATHS = new Set(SHELL.map(at));
// the Voice UI's own page (its start URL and index.html; a query such as a pairing link is fine)
const PAGES = new Set([at('./'), at('./index.html')]);

self.addEventListener('install', (e) => { e.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting())); });
self.addEventListener('activate', (e) => {
  // older caches go: one could hold a page that is not the Voice UI under its shell's name
  e.waitUntil(caches.keys().then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k)))).then(() => self.clients.claim()));
});
self.addEventListener('fetch', (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== 'GET' || url.origin !== location.origin) return;
  const page = e.request.mode === 'navigate';
  if (page ? !PAGES.has(url.pathname) : (!SHELL_PATHS.has(url.pathname) || url.search)) return;  // not ours: the network's
  const key = page ? './index.html' : url.pathname;
  // network first (a deploy shows up at once), the cached shell when offline
  e.respondWith(fetch(e.request).then((res) => {
    // the file itself, from this origin: not a redirect to elsewhere, not an error page
    if (res.ok && res.type === 'basic' && !res.redirected) { const copy = res.clone(); caches.open(CACHE).then((c) => c.put(key, copy)); }
    return res;
  }).catch(() => caches.match(key).then((hit) => hit || Response.error())));
});
