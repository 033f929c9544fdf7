// Ctrl/Cmd+K search palette across every entity type and page.
import { store } from '../store.js';
import { go } from '../router.js';
import { Modal } from './modal.js';
import { Icon } from './icon.js';
import { NAV } from '../nav.js';

const KINDS = [
  ['backends', 'Backend', 'backends'], ['agents', 'Agent', 'agents'], ['flows', 'Flow', 'flows'], ['memory', 'Memory provider', 'memory'],
  ['mcps', 'MCP server', 'mcps'], ['clients', 'Client', 'clients'], ['commands', 'Command', 'commands'], ['secrets', 'Secret', 'secrets'],
];

export const SearchPalette = {
  name: 'SearchPalette',
  components: { Modal, Icon },
  data() { return { open: false, q: '', sel: 0 }; },
  computed: {
    results() {
      const q = this.q.trim().toLowerCase();
      const out = [];
      for (const n of NAV) if (!q || n.label.toLowerCase().includes(q)) out.push({ type: 'Page', label: n.label, icon: n.icon, page: n.id });
      if (q) {
        for (const [kind, label, page] of KINDS) {
          for (const x of store[kind]) {
            const hay = [x.name, x.description, x.key, x.type, x.url, ...(x.tags || [])].filter(Boolean).join(' ').toLowerCase();
            if (hay.includes(q)) out.push({ type: label, label: x.name, sub: x.description || x.key || x.url || '', icon: NAV.find((n) => n.id === page)?.icon, page, id: x.id });
          }
        }
      }
      return out.slice(0, 40);
    },
  },
  watch: { q() { this.sel = 0; } },
  template: `
  <Modal v-model:open="open" title="Search" testid="search-palette" :guard="false">
    <div class="palette">
      <input v-model="q" placeholder="Search agents, backends, flows, pages…" autofocus aria-label="Search"
        role="combobox" aria-expanded="true" aria-controls="palette-results" :aria-activedescendant="results.length ? 'palette-opt-' + sel : null"
        @keydown.down.prevent="move(1)" @keydown.up.prevent="move(-1)" @keydown.enter.prevent="pick(results[sel])">
      <ul class="palette-list" role="listbox" id="palette-results" aria-label="Results" tabindex="0">
        <li v-for="(r, i) in results" :key="r.page + (r.id || '')" :id="'palette-opt-' + i" :class="{sel: i === sel}" role="option" :aria-selected="i === sel"
          @mouseenter="sel = i" @click="pick(r)">
          <Icon :name="r.icon || 'right'" :size="16"/><span class="grow"><strong>{{ r.label }}</strong> <span class="muted small">{{ r.sub }}</span></span>
          <span class="badge muted">{{ r.type }}</span></li>
        <li class="muted small" v-if="!results.length" role="option" aria-disabled="true" aria-selected="false">No matches.</li>
      </ul>
    </div>
  </Modal>`,
  methods: {
    show() { this.q = ''; this.sel = 0; this.open = true; },
    move(d) { const n = this.results.length; if (n) this.sel = (this.sel + d + n) % n; },
    pick(r) { if (!r) return; this.open = false; go(r.page, r.id ? { edit: r.id } : {}); },
  },
};
