// Single reactive data store shared by every page. Call load(kind) / loadAll().
import { reactive } from 'vue';
import { api, mutationHooks } from './api.js';

// UI kind (the Admin API path segment, e.g. 'mcps') -> collection path. Filled from GET /kinds
// (declared once per kind on the server's models), so a new kind needs no entry here.
export const PATHS = {};
// UI kind -> store kind ('mcps' -> 'mcpServers'), e.g. for the overview counts
export const STORE_KINDS = {};

export const store = reactive({
  backends: [], agents: [], flows: [], memory: [], mcps: [], clients: [], commands: [], secrets: [],
  settings: { sessionProvider: '', longTermProvider: '' },
  backendTypes: [], memoryTypes: [], voiceTypes: [],
  loaded: {},   // kind -> true once fetched
  errors: {},   // kind -> last error message
});

const asList = (d) => (Array.isArray(d) ? d : (d && (d.items || d.data)) || []);

// The runtime rebuilds agents asynchronously after a change: poll briefly while any is still pending.
export const isPending = (a) => a && a.valid === false && /not built yet|building|pending/i.test(a.invalidReason || '');
let pendingPolls = 0;
function pollPending(kind) {
  if (!['agents', 'flows'].includes(kind)) return;
  if (!store[kind].some(isPending)) { pendingPolls = 0; return; }
  if (++pendingPolls > 40) return;
  setTimeout(() => load(kind), 500);
}

// Live backend health (checked by the server every server.healthInterval): pages that show it keep
// their lists current without a reload. Returns a stop function; only while the tab is visible.
export const HEALTH_REFRESH_MS = 3000;
export function liveHealth(kinds = ['backends', 'agents']) {
  const timer = setInterval(() => {
    if (document.visibilityState === 'visible') kinds.forEach((k) => load(k));
  }, HEALTH_REFRESH_MS);
  return () => clearInterval(timer);
}

// Live health words: the monitor's up/degraded/down and a manual test's healthy/unhealthy.
export const HEALTH_LABEL = { up: 'up', healthy: 'up', degraded: 'degraded', down: 'down', unhealthy: 'down' };

export async function loadKinds() {
  for (const k of asList(await api.get('/kinds'))) {
    PATHS[k.path] = '/' + k.path;
    STORE_KINDS[k.path] = k.kind;
    if (!(k.path in store)) store[k.path] = [];
  }
}

export async function load(kind) {
  try {
    store[kind] = asList(await api.get(PATHS[kind] || '/' + kind));
    store.errors[kind] = null;
    pollPending(kind);
  } catch (e) {
    store.errors[kind] = e.message;
    if (e.status === 401) throw e;
  } finally {
    store.loaded[kind] = true;
  }
  return store[kind];
}

// Settings this page wrote (a save's answer): counted, so a read that was on its way meanwhile
// does not put the older settings back over them
let settingsWrites = 0;
export function setSettings(next) {
  settingsWrites += 1;
  store.settings = { ...store.settings, ...next };
}

export async function loadMeta() {
  const safe = (p) => api.get(p).catch(() => null);
  const writes = settingsWrites;
  // each answer applied as it lands: a slow one (voice types) must not hold the others back
  await Promise.all([
    safe('/backends/types').then((bt) => { if (bt) store.backendTypes = asList(bt); }),
    safe('/memory/types').then((mt) => { if (mt) store.memoryTypes = asList(mt); }),
    safe('/voice/types').then((vt) => { if (vt) store.voiceTypes = asList(vt); }),
    safe('/settings').then((st) => {
      // loaded.settings: the Settings page shows its forms only then (a form of defaults saved
      // before the read landed would have put the defaults over every stored setting). A save
      // made while this read was on its way is newer than what it read: it stays.
      if (st && settingsWrites === writes) {
        store.settings = { sessionProvider: '', longTermProvider: '', ...st }; store.loaded.settings = true; store.errors.settings = null;
      } else if (st) {
        store.loaded.settings = true; store.errors.settings = null;
      } else if (!store.loaded.settings) store.errors.settings = 'Could not read the settings: reload the page to try again.';
    }),
  ]);
}

export async function loadAll() {
  if (!Object.keys(PATHS).length) await loadKinds();
  await Promise.all([...Object.keys(PATHS).map(load), loadMeta()]);
}

export const byId = (kind, id) => store[kind].find((x) => x.id === id);
// a user as the Conversations and Memory pages show them: "@alice (99…)" when a bot's platform named
// them (the API's userName), else the id alone (API users, and conversations recorded before)
export const userLabel = (id, name) => (name ? `${name} (${id})` : String(id ?? ''));

// Another agent or flow with this (trimmed) name, other than `selfId`: its kind, else ''. Clients
// call apps by name (the run API's appName, a webhook's agent, /v1 model): a name two apps share
// answers them with a 400 asking for the id, so the dialogs say so before saving.
export function nameTakenBy(name, selfId) {
  const n = String(name || '').trim();
  if (!n) return '';
  if (store.agents.some((a) => a.id !== selfId && a.name === n)) return 'agent';
  if (store.flows.some((f) => f.id !== selfId && f.name === n)) return 'flow';
  return '';
}
export const nameOf = (kind, id) => byId(kind, id)?.name || (id ? `${String(id).slice(0, 8)}… (missing)` : '—');

// Backends whose probed/declared capabilities include a role ("llm", "stt", "tts", "embeddings").
export function backendsWithRole(role) {
  return store.backends.filter((b) => {
    const roles = b.capabilities?.roles;
    if (Array.isArray(roles) && roles.length) return roles.includes(role);
    const t = store.backendTypes.find((x) => x.type === b.type);
    const troles = t?.capabilities?.roles;
    return Array.isArray(troles) ? troles.includes(role) : true;
  });
}

// Cached model lists per backend id: {models: [{id, ownedBy}], cached, error, loading}
const modelCache = reactive({});
export function modelsFor(backendId) {
  if (!backendId) return { models: [], loading: false };
  if (!modelCache[backendId]) fetchModels(backendId);
  return modelCache[backendId];
}
export async function fetchModels(backendId, refresh = false, retry = true) {
  if (!backendId) return;
  modelCache[backendId] = { ...(modelCache[backendId] || { models: [] }), loading: true };
  try {
    const r = await api.get(`/backends/${backendId}/models${refresh ? '?refresh=true' : ''}`);
    modelCache[backendId] = { models: r.models || [], cached: r.cached, error: r.error, loading: false };
  } catch (e) {
    modelCache[backendId] = { models: [], error: e.message, loading: false };
  }
  // a listing that failed (a busy server, a provider slow to answer) is asked once more by itself,
  // so the model field's suggestions do not stay empty until someone clicks refresh
  const now = modelCache[backendId];
  if (retry && now.error && !(now.models || []).length) {
    setTimeout(() => { if (!(modelCache[backendId]?.models || []).length) fetchModels(backendId, refresh, false); }, 3000);
  }
}

// After any change the runtime rebuilds in the background; re-read what depends on it shortly after.
let settleTimers = [];
mutationHooks.push(() => {
  settleTimers.forEach(clearTimeout);
  settleTimers = [700, 2000].map((ms) => setTimeout(() => ['agents', 'flows', 'backends'].forEach((k) => load(k)), ms));
});

// Embedding model keys are "<backendId>/<model>": show "<backend name> · <model>".
export function modelLabel(key) {
  const m = /^([0-9a-f]{8}-[0-9a-f-]{27})\/(.+)$/i.exec(key || '');
  return m ? `${nameOf('backends', m[1])} · ${m[2]}` : (key || '—');
}

// Timestamps may be epoch seconds, epoch milliseconds or ISO strings.
export function fmtTime(t) {
  if (t == null || t === '') return '';
  const d = typeof t === 'number' ? new Date(t < 1e12 ? t * 1000 : t) : new Date(t);
  return isNaN(d) ? String(t) : d.toLocaleString();
}
