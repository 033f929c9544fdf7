// App shell: login gate, sidebar + top bar, page switch, toasts, search palette, keyboard shortcuts.
import { createApp } from 'vue';
import { auth, setPassword, checkAuth } from './api.js';
import { store, loadAll } from './store.js';
import { route, go, runAction, clearParams } from './router.js';
import { toasts, dismiss, toast } from './toast.js';
import { NAV } from './nav.js';
import { Icon } from './components/icon.js';
import { ConfirmHost, AskHost } from './components/confirm.js';
import { SearchPalette } from './components/search.js';
import { PasswordInput } from './components/inputs.js';
import { installCardKeys } from './components/common.js';
import { watchLabels } from './components/a11y.js';
import { installFieldErrors } from './components/field-errors.js';
import overview from './pages/overview.js';
import backends from './pages/backends.js';
import agents from './pages/agents.js';
import flows from './pages/flows.js';
import memory from './pages/memory.js';
import mcps from './pages/mcps.js';
import skills from './pages/skills.js';
import commands from './pages/commands.js';
import clients from './pages/clients.js';
import secrets from './pages/secrets.js';
import settings from './pages/settings.js';
import playground from './pages/playground.js';
import conversations from './pages/conversations.js';
import costs from './pages/costs.js';

const PAGES = { overview, backends, agents, flows, memory, mcps, skills, commands, clients, secrets, settings, playground, conversations, costs };

const Login = {
  name: 'Login',
  components: { PasswordInput, Icon },
  data() { return { pw: '', error: auth.error, busy: false }; },
  template: `
  <div class="login">
    <form class="login-box panel" @submit.prevent="submit">
      <div class="brand big"><span class="logo">m</span> magec</div>
      <p class="muted">This server is protected by an admin password.</p>
      <div class="field"><label for="login-pw">Admin password</label>
        <PasswordInput id="login-pw" v-model="pw" name="password" autocomplete="current-password" placeholder="Password"/></div>
      <p class="error-text" v-if="error" role="alert">{{ error }}</p>
      <button class="btn block" type="submit" :disabled="busy || !pw">{{ busy ? 'Checking…' : 'Sign in' }}</button>
    </form>
  </div>`,
  mounted() { this.$el.querySelector('input')?.focus(); },
  methods: {
    async submit() {
      this.busy = true; this.error = '';
      setPassword(this.pw);
      const ok = await checkAuth();
      this.busy = false;
      if (ok) { auth.required = false; loadAll().catch(() => {}); } else { setPassword(''); this.error = auth.error || 'Wrong password'; }
    },
  },
};

// The Admin API refuses this browser outright (auth.blocked): its reason instead of an empty app.
const Blocked = {
  name: 'Blocked',
  data() { return { auth }; },
  template: `
  <div class="login">
    <div class="login-box panel" data-testid="admin-blocked">
      <div class="brand big"><span class="logo">m</span> magec</div>
      <p><strong>This Admin UI cannot be used from here.</strong></p>
      <p class="error-text" role="alert">{{ auth.blocked }}</p>
    </div>
  </div>`,
};

const App = {
  name: 'App',
  components: { ...PAGES, Login, Blocked, Icon, ConfirmHost, AskHost, SearchPalette },
  data() {
    return { auth, route, store, toasts, NAV, drawer: false, collapsed: localStorage.getItem('magec.sidebar') === 'collapsed', gPending: false };
  },
  computed: {
    page() { return PAGES[this.route.page] ? this.route.page : 'overview'; },
    groups() { return [...new Set(NAV.map((n) => n.group))].map((g) => ({ g, items: NAV.filter((n) => n.group === g) })); },
    title() { return NAV.find((n) => n.id === this.page)?.label || ''; },
  },
  watch: {
    'route.page'() { this.drawer = false; this.maybeNew(); },
    'route.params.new'() { this.maybeNew(); },
    collapsed(v) { localStorage.setItem('magec.sidebar', v ? 'collapsed' : 'open'); },
  },
  template: `
  <div v-if="!auth.ready" class="boot">Loading magec…</div>
  <Blocked v-else-if="auth.blocked"/>
  <Login v-else-if="auth.required"/>
  <div v-else class="shell" :class="{collapsed, drawer}">
    <aside class="sidebar" aria-label="Main navigation">
      <div class="brand"><span class="logo">m</span><span class="brand-name">magec</span>
        <button class="icon-btn collapse-btn" type="button" @click="collapsed = !collapsed" :title="collapsed ? 'Expand' : 'Collapse'" aria-label="Toggle sidebar"><Icon :name="collapsed ? 'right' : 'menu'"/></button></div>
      <nav>
        <div v-for="grp in groups" :key="grp.g" class="nav-group">
          <div class="nav-label" v-if="grp.g">{{ grp.g }}</div>
          <a v-for="n in grp.items" :key="n.id" :href="'#/' + n.id" class="nav-item" :class="{active: page === n.id}" :title="n.label" :data-nav="n.id">
            <Icon :name="n.icon"/><span class="nav-text">{{ n.label }}</span>
            <span class="nav-count" v-if="countOf(n.id) != null">{{ countOf(n.id) }}</span></a>
        </div>
      </nav>
    </aside>
    <div class="scrim" @click="drawer = false"></div>
    <div class="main">
      <header class="topbar">
        <button class="icon-btn menu-btn" type="button" @click="drawer = !drawer" aria-label="Menu"><Icon name="menu"/></button>
        <span class="topbar-title">{{ title }}</span>
        <button class="search-btn" type="button" @click="$refs.search.show()" title="Search (Ctrl+K or /)"><Icon name="search" :size="16"/><span>Search…</span><kbd>Ctrl K</kbd></button>
        <button class="icon-btn" type="button" @click="refresh" title="Refresh (r)" aria-label="Refresh"><Icon name="refresh"/></button>
        <button class="icon-btn" type="button" v-if="auth.password" @click="logout" title="Sign out" aria-label="Sign out"><Icon name="logout"/></button>
      </header>
      <main class="content"><component :is="page" :key="page"/></main>
    </div>
  </div>
  <ConfirmHost/>
  <AskHost/>
  <SearchPalette ref="search"/>
  <div class="toasts" :class="{'side-collapsed': collapsed}" aria-live="polite" data-testid="toasts">
    <div v-for="t in toasts" :key="t.id" class="toast" :class="t.kind" role="status" @click="dismiss(t.id)">
      <Icon :name="t.kind === 'error' ? 'alert' : t.kind === 'success' ? 'check' : 'right'" :size="16"/><span class="grow">{{ t.text }}</span>
      <button class="icon-btn sm" type="button" aria-label="Dismiss" title="Dismiss" @click.stop="dismiss(t.id)"><Icon name="x" :size="14"/></button></div>
  </div>`,
  mounted() { window.addEventListener('keydown', this.onKey); this.maybeNew(); },
  methods: {
    dismiss,
    countOf(id) { return Array.isArray(store[id]) && store.loaded[id] ? store[id].length : null; },
    async refresh() { await loadAll(); toast.info('Refreshed'); },
    logout() { setPassword(''); auth.required = true; },
    maybeNew() {
      if (!route.params.new) return;
      setTimeout(() => { runAction('new'); clearParams(); }, 50);
    },
    onKey(e) {
      if (!this.auth.ready || this.auth.required) return;
      const k = e.key;
      if ((e.ctrlKey || e.metaKey) && k.toLowerCase() === 'k') { e.preventDefault(); this.$refs.search.show(); return; }
      const t = e.target;
      const typing = t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName));
      if (typing || e.ctrlKey || e.metaKey || e.altKey || document.querySelector('dialog[open]')) return;
      if (this.gPending) {
        this.gPending = false;
        const dest = { b: 'backends', a: 'agents', m: 'memory', f: 'flows', p: 'playground', s: 'settings', o: 'overview', c: 'clients' }[k];
        if (dest) { e.preventDefault(); go(dest); }
        return;
      }
      if (k === '/') { e.preventDefault(); this.$refs.search.show(); } else if (k === 'n') { if (runAction('new')) e.preventDefault(); } else if (k === 'r') { e.preventDefault(); this.refresh(); } else if (k === 'g') { this.gPending = true; setTimeout(() => { this.gPending = false; }, 1200); }
    },
  },
};

async function boot() {
  const ok = await checkAuth();
  if (ok) loadAll().catch(() => {});
}

installCardKeys();
installFieldErrors();
const app = createApp(App);
app.config.errorHandler = (err) => { console.error(err); toast.error(err?.message || String(err)); };
app.mount('#app');
watchLabels(document.getElementById('app'));
boot();

