// Hash router: #/page?key=value. No history API needed; the page is always index.html.
import { reactive } from 'vue';

export const route = reactive({ page: 'overview', params: {} });

function parse() {
  const h = location.hash.replace(/^#\/?/, '');
  const [page, qs] = h.split('?');
  route.page = page || 'overview';
  route.params = Object.fromEntries(new URLSearchParams(qs || ''));
}

export function go(page, params = {}) {
  const qs = new URLSearchParams(params).toString();
  const target = `#/${page}${qs ? `?${qs}` : ''}`;
  if (location.hash === target) parse();
  else location.hash = target;
}

// Drop query params (e.g. ?edit=id) without navigating.
export function clearParams() {
  history.replaceState(null, '', `#/${route.page}`);
  route.params = {};
}

window.addEventListener('hashchange', parse);
parse();

// Page actions bus: the shell dispatches "new"/"refresh" to the current page.
const handlers = {};
export function onAction(name, fn) {
  handlers[name] = fn;
  return () => { if (handlers[name] === fn) delete handlers[name]; };
}
export function runAction(name) {
  if (handlers[name]) { handlers[name](); return true; }
  return false;
}
