// Delete confirmation with the 409 "who references this" list and a force option.
// const ok = await confirmDelete({ kind: 'backend', name, path: '/backends/ID' })
import { reactive } from 'vue';
import { api } from '../api.js';
import { toast } from '../toast.js';
import { Modal } from './modal.js';
import { Icon } from './icon.js';

const state = reactive({ open: false, opts: null, refs: null, busy: false, error: '', resolve: null });

export function confirmDelete(opts) {
  return new Promise((resolve) => {
    Object.assign(state, { open: true, opts, refs: null, busy: false, error: '', resolve });
  });
}

export const ConfirmHost = {
  name: 'ConfirmHost',
  components: { Modal, Icon },
  setup() { return { s: state }; },
  template: `
  <Modal :open="s.open" @update:open="cancel" :title="s.refs ? 'This ' + s.opts.kind + ' is in use' : 'Delete ' + (s.opts && s.opts.kind || '') + '?'" testid="confirm-delete">
    <template v-if="s.opts">
      <p v-if="!s.refs">Delete <strong>{{ s.opts.name }}</strong>? This cannot be undone.</p>
      <template v-else>
        <p><strong>{{ s.opts.name }}</strong> is referenced by:</p>
        <ul class="refs" data-testid="reference-list">
          <li v-for="(r, i) in s.refs" :key="i">
            <span class="badge">{{ r.referrerType }}</span>
            <strong>{{ r.referrerName || r.referrerId }}</strong>
            <code>{{ r.field }}</code>
            <span class="badge" :class="r.kind === 'structural' ? 'danger' : 'muted'" :title="kindHint(r.kind)">{{ r.kind }}</span>
          </li>
        </ul>
        <p class="muted small">Force delete removes these references first. Structural references (for example an agent's LLM backend)
          leave the referrer invalid until you pick a replacement.</p>
      </template>
      <p class="error-text" v-if="s.error">{{ s.error }}</p>
    </template>
    <template #footer>
      <button class="btn ghost" type="button" @click="cancel">Cancel</button>
      <button v-if="!s.refs" class="btn danger" type="button" :disabled="s.busy" @click="run(false)">Delete</button>
      <button v-else class="btn danger" type="button" :disabled="s.busy" @click="run(true)">Force delete</button>
    </template>
  </Modal>`,
  methods: {
    kindHint(k) { return k === 'structural' ? 'The referrer cannot work without it' : 'A list entry or optional pointer; safe to remove'; },
    cancel() { if (state.resolve) state.resolve(false); Object.assign(state, { open: false, resolve: null }); },
    async run(force) {
      state.busy = true; state.error = '';
      try {
        // explicit ?force=false: the references are shown first even where settings.deleteReferenced is "scrub"
        await api.del(state.opts.path + (force ? '?force=true' : '?force=false'));
        toast.success(`Deleted ${state.opts.kind} “${state.opts.name}”`);
        const r = state.resolve;
        Object.assign(state, { open: false, resolve: null });
        if (r) r(true);
      } catch (e) {
        if (e.status === 409) {
          state.refs = e.data.references || [];
          if (!state.refs.length) state.error = e.message;
        } else state.error = e.message;
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
