// Settings: active memory providers, session retention, graph flow code-node limits, deleting what is in use,
// session/sign-out, keyboard shortcuts.
import { api, auth, setPassword } from '../api.js';
import { store, setSettings } from '../store.js';
import { toast } from '../toast.js';
import { ask } from '../components/confirm.js';
import { Icon } from '../components/icon.js';
import { PageHeader, Skeleton, ErrorBanner } from '../components/common.js';
import BackupSection from './backup-section.js';

// A copy of the settings whose nested flows block is a copy too (edits stay in the form until saved).
function withFlows(v) {
  const flows = v?.flows || {};
  return { ...v, flows: { executionTimeoutMs: 0, maxOutputBytes: 0, maxRouterActivations: 1000, ...flows,
    disabledLibraries: [...(flows.disabledLibraries || [])] },
    sessions: { retentionDays: 0, ...(v?.sessions || {}) }, deleteReferenced: v?.deleteReferenced || 'refuse' };
}

export default {
  name: 'SettingsPage',
  components: { Icon, PageHeader, BackupSection, Skeleton, ErrorBanner },
  data() { return { s: store, auth, form: withFlows(store.settings), saving: false, pruning: false }; },
  computed: {
    session() { return store.memory.filter((m) => m.category === 'session'); },
    longterm() { return store.memory.filter((m) => m.category === 'longterm'); },
    // the retention a prune applies: the saved one (the button waits while the form differs)
    savedDays() { return store.settings?.sessions?.retentionDays || 0; },
    disabledLibs: {
      get() { return (this.form.flows.disabledLibraries || []).join(', '); },
      set(v) { this.form.flows.disabledLibraries = v.split(',').map((x) => x.trim()).filter(Boolean); },
    },
  },
  watch: { 's.settings'(v) { this.form = withFlows(v); } },
  template: `
  <div class="page narrow">
    <PageHeader title="Settings" icon="settings" subtitle="Global runtime settings. Changes apply immediately."/>
    <ErrorBanner :error="s.errors.settings"/>
    <Skeleton v-if="!s.loaded.settings" :n="1"/>
    <template v-else>
    <section class="panel">
      <h2>Memory</h2>
      <form class="form" @submit.prevent="save">
        <div class="grid-2">
          <div class="field"><label for="st-session">Session provider</label>
            <select id="st-session" v-model="form.sessionProvider"><option value="">Main database (default)</option>
              <option v-for="m in session" :key="m.id" :value="m.id">{{ m.name }} ({{ m.type }})</option></select></div>
          <div class="field"><label for="st-long">Long-term provider</label>
            <select id="st-long" v-model="form.longTermProvider"><option value="">Off (no long-term memory)</option>
              <option v-for="m in longterm" :key="m.id" :value="m.id">{{ m.name }} ({{ m.type }})</option></select></div>
        </div>
        <div class="grid-2">
          <div class="field"><label for="st-sess-days">Delete conversations idle for (days)</label>
            <input id="st-sess-days" type="number" min="0" max="36500" v-model.number="form.sessions.retentionDays"
              aria-describedby="st-sess-hint"></div>
        </div>
        <p class="hint" id="st-sess-hint">Sessions in magec's database with no message for that many days are deleted
          hourly, with their artifacts (0 = keep them). Redis sessions expire by their provider's TTL.</p>
        <div class="row"><button class="btn" type="submit" :disabled="saving">Save settings</button>
          <button class="btn secondary" type="button" :disabled="saving || pruning || !savedDays || form.sessions.retentionDays !== savedDays"
            :title="form.sessions.retentionDays !== savedDays ? 'Save the settings first' : ''"
            @click="pruneSessions">Delete idle sessions now</button></div>
      </form>
    </section>
    <section class="panel">
      <h2>Flows</h2>
      <p class="hint">Ceilings for graph flows' code nodes (0 = magec's default: 5 s, 1 MB); a node's own limit can only be lower.</p>
      <form class="form" @submit.prevent="save" data-testid="flow-settings">
        <div class="grid-2">
          <div class="field"><label for="st-fl-timeout">Code timeout (ms)</label>
            <input id="st-fl-timeout" type="number" min="0" v-model.number="form.flows.executionTimeoutMs"></div>
          <div class="field"><label for="st-fl-output">Code max output (bytes)</label>
            <input id="st-fl-output" type="number" min="0" v-model.number="form.flows.maxOutputBytes"></div>
          <div class="field"><label for="st-fl-libs">Disabled Starlark libraries</label>
            <input id="st-fl-libs" v-model.lazy="disabledLibs" placeholder="e.g. json, print"></div>
          <div class="field"><label for="st-fl-router">Router activations per run</label>
            <input id="st-fl-router" type="number" min="1" max="1000" v-model.number="form.flows.maxRouterActivations"></div>
        </div>
        <div><button class="btn" type="submit" :disabled="saving">Save settings</button></div>
      </form>
    </section>
    <section class="panel">
      <h2>Deleting</h2>
      <form class="form" @submit.prevent="save" data-testid="delete-settings">
        <div class="field"><label for="st-del-ref">Deleting something still in use (API calls without ?force)</label>
          <select id="st-del-ref" v-model="form.deleteReferenced" aria-describedby="st-del-hint">
            <option value="refuse">Refuse it, naming who uses it (409)</option>
            <option value="scrub">Delete it and remove it from those that use it</option></select></div>
        <p class="hint" id="st-del-hint">This page always asks first and names who uses it; this setting decides what a
          plain DELETE on the Admin API does (scripts, Magec's UI).</p>
        <div><button class="btn" type="submit" :disabled="saving">Save settings</button></div>
      </form>
    </section>
    </template>
    <BackupSection/>
    <section class="panel">
      <h2>Session</h2>
      <p class="muted" v-if="auth.password">You are signed in with the admin password (kept in this tab only).</p>
      <p class="muted" v-else>No admin password is set on this server. Set <code>server.adminPassword</code> in config.yaml to protect the Admin UI.</p>
      <button class="btn secondary" type="button" v-if="auth.password" @click="logout"><Icon name="logout" :size="16"/> Sign out</button>
    </section>
    <section class="panel">
      <h2>Keyboard shortcuts</h2>
      <dl class="shortcuts">
        <dt><kbd>n</kbd></dt><dd>New item on the current page</dd>
        <dt><kbd>/</kbd> or <kbd>Ctrl</kbd>+<kbd>K</kbd></dt><dd>Search everything</dd>
        <dt><kbd>r</kbd></dt><dd>Refresh data</dd>
        <dt><kbd>g</kbd> then <kbd>b</kbd>/<kbd>a</kbd>/<kbd>m</kbd>/<kbd>f</kbd>/<kbd>p</kbd></dt><dd>Go to Backends / Agents / Memory / Flows / Playground</dd>
        <dt><kbd>Esc</kbd></dt><dd>Close dialog</dd>
      </dl>
    </section>
  </div>`,
  methods: {
    async save() {
      this.saving = true;
      try { setSettings((await api.put('/settings', this.form)) || this.form); toast.success('Settings saved'); } catch (e) { toast.error(e); } finally { this.saving = false; }
    },
    async pruneSessions() {
      this.pruning = true;
      try {
        const { idle, retentionDays } = await api.get('/memory/sessions/idle');
        if (!idle) { toast.success('No session has been idle that long'); return; }
        const what = `${idle} conversation${idle === 1 ? '' : 's'} idle for more than ${retentionDays} day${retentionDays === 1 ? '' : 's'}`;
        if (!(await ask(`Delete ${what}, with their artifacts? This cannot be undone.`,
          { title: 'Delete idle sessions', ok: 'Delete', danger: true }))) return;
        const r = await api.post('/memory/sessions/prune', {});
        toast.success(`Deleted ${r.deleted} idle session${r.deleted === 1 ? '' : 's'}`);
      } catch (e) { toast.error(e); } finally { this.pruning = false; }
    },
    logout() { setPassword(''); auth.required = true; },
  },
};
