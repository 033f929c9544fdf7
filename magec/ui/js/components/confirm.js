// Delete confirmation: ONE dialog. It asks the server what uses the item first (GET …/referrers) and
// says so in user words ("Agent Helper uses it for chat") with one clear action; a 409 that arrives
// anyway (someone started using it meanwhile) turns the same dialog into that list.
// const ok = await confirmDelete({ kind: 'backend', name, path: '/backends/ID' })
import { reactive } from 'vue';
import { api } from '../api.js';
import { toast } from '../toast.js';
import { Modal } from './modal.js';
import { Icon } from './icon.js';
import { Spinner } from './common.js';

const state = reactive({ open: false, opts: null, refs: null, loading: false, busy: false, error: '', resolve: null });

let asked = 0; // which confirmDelete call the in-flight referrers answer belongs to

export function confirmDelete(opts) {
  return new Promise((resolve) => {
    const mine = ++asked;
    Object.assign(state, { open: true, opts, refs: null, loading: true, busy: false, error: '', resolve });
    api.get(`${opts.path}/referrers`)
      .then((r) => { if (asked === mine) state.refs = (r && r.references) || []; })
      .catch(() => { if (asked === mine) state.refs = null; }) // unknown: the DELETE's 409 will tell
      .finally(() => { if (asked === mine) state.loading = false; });
  });
}

// what goes with an item besides itself, said before the delete (the server deletes it: magec.clients.purge)
const GOES = {
  client: 'Its conversations, their files, its long-term memories, its unanswered bot messages and its A2A tasks '
    + 'are deleted with it; a client restored later with the same id starts without them. '
    + 'Its usage and costs and the conversation log stay.',
};

const TYPES = { agent: 'Agent', flow: 'Flow', client: 'Client', memoryProvider: 'Memory provider', settings: 'Settings',
  backend: 'Backend', mcpServer: 'MCP server', command: 'Command', skill: 'Skill' };

// What a reference field means, for people: "llm.fallbacks[0].backend" -> "as a chat fallback".
export function useText(field) {
  const f = String(field || '').replace(/\[\d+\]/g, '[]');
  const rules = [
    [/^llm\.backend$/, 'for chat'], [/^llm\.fallbacks/, 'as a chat fallback'],
    [/^transcription\.backend$/, 'for speech-to-text'], [/^transcription\.fallbacks/, 'as a speech-to-text fallback'],
    [/^tts\.backend$/, 'for text-to-speech'], [/^tts\.fallbacks/, 'as a text-to-speech fallback'],
    [/^embedding\.backend$/, 'for embeddings'], [/^embedding\.fallbacks/, 'as an embeddings fallback'],
    [/^mcpServers/, 'as a tool server'], [/^skills/, 'as a skill'],
    [/^(root|steps|nodes)/, 'as a step'], [/agentId$/, 'as a step'], [/flowId$/, 'as a sub-flow'],
    [/^allowedAgents/, 'as an allowed agent'], [/defaultAgent$/, 'as its default agent'], [/commandId$/, 'as its command'],
    [/^sessionProvider$/, 'as the conversation memory'], [/^longTermProvider$/, 'as the long-term memory'],
    // a secret is used by its key: ${KEY} in a field, or an agent's allowed secrets
    [/^apiKey$/, 'as its API key'], [/(^|\.)headers\./, 'in a header'], [/^env\./, 'in its environment'],
    [/^secrets\[\]$/, 'as an allowed secret'], [/connectionString$/, 'in its connection string'],
    [/^(systemPrompt|prompt)$/, 'in its prompt'],
  ];
  for (const [re, text] of rules) if (re.test(f)) return text;
  return 'in its settings';
}

export const ConfirmHost = {
  name: 'ConfirmHost',
  components: { Modal, Icon, Spinner },
  setup() { return { s: state }; },
  computed: {
    // one line per referrer: "Agent Helper uses it for chat and for text-to-speech"
    lines() {
      const by = new Map();
      for (const r of state.refs || []) {
        const k = r.referrerType + ':' + r.referrerId;
        if (!by.has(k)) by.set(k, { type: TYPES[r.referrerType] || r.referrerType, name: r.referrerName || r.referrerId, uses: [], breaks: false });
        const e = by.get(k);
        const u = useText(r.field);
        if (!e.uses.includes(u)) e.uses.push(u);
        // the server knows whether the referrer still works without it (a flow runs on its other steps)
        if (r.breaks ?? r.kind === 'structural') e.breaks = true;
      }
      return [...by.values()];
    },
    breaks() { return this.lines.filter((l) => l.breaks); },
    goes() { return (state.opts && GOES[state.opts.kind]) || ''; },
  },
  template: `
  <Modal :open="s.open" @update:open="cancel" :title="'Delete ' + (s.opts && s.opts.kind || '') + '?'" testid="confirm-delete">
    <template v-if="s.opts">
      <p v-if="s.loading" class="muted"><Spinner label="Checking what uses it"/> Checking what uses <strong>{{ s.opts.name }}</strong>…</p>
      <p v-else-if="!lines.length">Delete <strong>{{ s.opts.name }}</strong>? This cannot be undone.</p>
      <template v-else>
        <p><strong>{{ s.opts.name }}</strong> is in use:</p>
        <ul class="refs" data-testid="reference-list">
          <li v-for="(l, i) in lines" :key="i"><span>{{ l.type }} <strong>{{ l.name }}</strong> uses it {{ l.uses.join(' and ') }}.</span>
            <span class="badge danger" v-if="l.breaks">stops working</span></li>
        </ul>
        <p class="small">Deleting it also removes it from {{ lines.length === 1 ? 'this' : 'these' }}.
          <template v-if="breaks.length">{{ breaks.map((l) => l.type + ' ' + l.name).join(', ') }} will stop working until you pick a replacement.</template></p>
      </template>
      <p class="small" v-if="goes" data-testid="confirm-delete-goes">{{ goes }}</p>
      <p class="error-text" v-if="s.error" role="alert">{{ s.error }}</p>
    </template>
    <template #footer>
      <button class="btn ghost" type="button" @click="cancel">Cancel</button>
      <button class="btn danger" type="button" :disabled="s.busy || s.loading" @click="run(lines.length > 0)" data-testid="confirm-delete-btn">
        <Spinner v-if="s.busy"/>{{ lines.length ? 'Remove from ' + (lines.length === 1 ? 'it' : 'them') + ' and delete' : 'Delete' }}</button>
    </template>
  </Modal>`,
  methods: {
    cancel() { if (state.resolve) state.resolve(false); Object.assign(state, { open: false, resolve: null }); },
    async run(force) {
      state.busy = true; state.error = '';
      try {
        // explicit ?force=false when nothing used it a moment ago: a new user since then is shown, not scrubbed
        await api.del(state.opts.path + (force ? '?force=true' : '?force=false'));
        toast.success(`Deleted ${state.opts.kind} “${state.opts.name}”`);
        const r = state.resolve;
        Object.assign(state, { open: false, resolve: null });
        if (r) r(true);
      } catch (e) {
        if (e.status === 409 && (e.data.references || []).length) state.refs = e.data.references;
        else state.error = e.message;
      } finally { state.busy = false; }
    },
  },
};

// Generic yes/no question in the app's own dialog: if (await ask('Regenerate?', {ok: 'Regenerate'})) ...
const askState = reactive({ open: false, title: '', text: '', ok: 'OK', danger: false, resolve: null });

export function ask(text, { title = 'Are you sure?', ok = 'OK', danger = false } = {}) {
  return new Promise((resolve) => Object.assign(askState, { open: true, title, text, ok, danger, resolve }));
}

export const AskHost = {
  name: 'AskHost',
  components: { Modal },
  setup() { return { a: askState }; },
  template: `
  <Modal :open="a.open" @update:open="done(false)" :title="a.title" testid="ask-dialog">
    <p>{{ a.text }}</p>
    <template #footer>
      <button class="btn ghost" type="button" @click="done(false)">Cancel</button>
      <button class="btn" :class="{danger: a.danger}" type="button" @click="done(true)" autofocus>{{ a.ok }}</button>
    </template>
  </Modal>`,
  methods: {
    done(v) { const r = askState.resolve; Object.assign(askState, { open: false, resolve: null }); if (r) r(v); },
  },
};
