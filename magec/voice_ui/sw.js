// Service worker: the app shell works offline (cache, refreshed from the network when it can be);
// the API is never cached.
const CACHE = 'magec-voice-v1';
const SHELL = ['./', './index.html', './css/voice.css', './js/main.js', './js/api.js', './js/audio.js',
  './js/capture.worklet.js', './vendor/vue.esm-browser.prod.js', './manifest.webmanifest',
  './icons/icon.svg', './icons/icon-192.png', './icons/icon-512.png'];

self.addEventListener('install', (e) => { e.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting())); });
self.addEventListener('activate', (e) => {
  e.waitUntil(caches.keys().then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k)))).then(() => self.clients.claim()));
});
self.addEventListener('fetch', (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== 'GET' || url.origin !== location.origin || url.pathname.startsWith('/api/') || url.pathname.startsWith('/v1/')) return;
  const key = e.request.mode === 'navigate' ? './index.html' : e.request;
  // network first (a deploy shows up at once), the cached shell when offline
  e.respondWith(fetch(e.request).then((res) => {
    if (res.ok) { const copy = res.clone(); caches.open(CACHE).then((c) => c.put(key, copy)); }
    return res;
  }).catch(() => caches.match(key).then((hit) => hit || Response.error())));
});
