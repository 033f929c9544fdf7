// Thin fetch wrapper for the Admin API: bearer auth, JSON, uniform errors.
import { reactive } from 'vue';

export const ADMIN = 'api/v1/admin';
const PW_KEY = 'magec.adminPassword';

export const auth = reactive({
  password: sessionStorage.getItem(PW_KEY) || '',
  required: false, // true once the server answered 401
  ready: false,
  error: '', // e.g. rate limited
  blocked: '', // why the Admin API refuses this browser whatever it sends (403 forbidden), e.g. no password behind a proxy
});

export function setPassword(pw) {
  auth.password = pw || '';
  if (pw) sessionStorage.setItem(PW_KEY, pw);
  else sessionStorage.removeItem(PW_KEY);
}

export class ApiError extends Error {
  constructor(status, message, data) {
    super(message);
    this.status = status;
    this.data = data || {};
  }
}

export function authHeaders(extra = {}) {
  const h = { ...extra };
  if (auth.password) h.Authorization = `Bearer ${auth.password}`;
  return h;
}

// Low level: returns the Response (used for SSE and audio). Throws ApiError on HTTP errors.
export async function raw(method, path, { body, headers, signal, form } = {}) {
  // While signed out, don't fire requests that would each count as a failed login on the server.
  if (auth.required && path !== '/auth/check') throw new ApiError(401, 'Sign in first');
  const init = { method, headers: authHeaders(headers), signal };
  if (form) init.body = form;
  else if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path.startsWith('http') ? path : `${ADMIN}${path}`, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, `Network error: ${e.message}`);
  }
  if (res.status === 401) {
    auth.required = true;
    auth.ready = true;
    const data = await res.json().catch(() => ({}));
    throw new ApiError(401, data.error || 'Unauthorized', data);
  }
  if (!res.ok) {
    let data = {};
    const text = await res.text().catch(() => '');
    try { data = JSON.parse(text); } catch { data = { error: text } }
    let msg = data.error || data.detail && (typeof data.detail === 'string' ? data.detail : JSON.stringify(data.detail))
      || `${res.status} ${res.statusText}`;
    if (res.status === 429 && res.headers.get('Retry-After')) msg += ` (retry in ${res.headers.get('Retry-After')} s)`;
    // a field-level 4xx is also shown at the field itself (components/field-errors.js)
    if (res.status < 500 && data.field && method !== 'GET') {
      window.dispatchEvent(new CustomEvent('magec:field-error', { detail: { field: data.field, message: msg } }));
    }
    throw new ApiError(res.status, msg, data);
  }
  return res;
}

// Called after every successful mutation (the store uses it to re-read agent validity).
export const mutationHooks = [];

export async function request(method, path, body, opts = {}) {
  const res = await raw(method, path, { ...opts, body });
  if (method !== 'GET' && !path.includes('/test') && !path.startsWith('/agent/')) mutationHooks.forEach((h) => h(method, path));
  if (res.status === 204) return null;
  const text = await res.text();
  if (!text) return null;
  try { return JSON.parse(text); } catch { return text }
}

export const api = {
  get: (p, o) => request('GET', p, undefined, o),
  post: (p, b, o) => request('POST', p, b ?? {}, o),
  put: (p, b, o) => request('PUT', p, b, o),
  del: (p, o) => request('DELETE', p, undefined, o),
};

// Resolves to true when the API accepts us. 401 and 429 (too many failed attempts) keep the login screen;
// other failures (server unreachable) let the app load and show errors per page.
export async function checkAuth() {
  auth.error = '';
  try {
    await api.get('/auth/check');
    auth.required = false;
    auth.ready = true;
    return true;
  } catch (e) {
    auth.ready = true;
    if (e.status === 429) { auth.required = true; auth.error = e.message; return false; }
    if (e.status === 401) return false;
    // refused whoever asks from here (the server has no admin password and a proxy relayed this
    // browser): the pages would only show an empty server, so the reason is all that is shown
    if (e.status === 403 && e.data?.code === 'forbidden') { auth.blocked = e.message; return false; }
    return true;
  }
}
