// Commands: reusable prompts.
import { api } from '../api.js';
import { store, load } from '../store.js';
import { toast } from '../toast.js';
import { Icon } from '../components/icon.js';
import { Modal } from '../components/modal.js';
import { PageHeader, EmptyState, Skeleton, ErrorBanner, matches } from '../components/common.js';
import { entityPage } from '../components/entity-page.js';

const CommandDialog = {
  name: 'CommandDialog',
  components: { Modal },
  data() { return { open: false, editing: null, form: {}, saving: false, error: '' }; },
  template: `
  <Modal v-model:open="open" :title="editing ? 'Edit command' : 'New command'" testid="command-dialog">
    <form class="form" id="command-form" @submit.prevent="save">
      <div class="field"><label for="cm-name">Name <span class="req">*</span></label><input id="cm-name" v-model="form.name" required autofocus placeholder="e.g. Daily summary"></div>
      <div class="field"><label for="cm-desc">Description</label><input id="cm-desc" v-model="form.description"></div>
      <div class="field"><label for="cm-prompt">Prompt <span class="req">*</span></label><textarea id="cm-prompt" v-model="form.prompt" rows="6" required placeholder="Summarise what happened today…"></textarea></div>
      <p class="error-text" v-if="error" role="alert">{{ error }}</p>
    </form>
    <template #footer>
      <button class="btn ghost" type="button" @click="open = false">Cancel</button>
      <button class="btn" type="submit" form="command-form" :disabled="saving">{{ editing ? 'Save' : 'Create' }}</button>
    </template>
  </Modal>`,
  methods: {
    show(c) {
      this.editing = c || null;
      this.form = { name: c?.name || '', description: c?.description || '', prompt: c?.prompt || '' };
      Object.assign(this, { error: '', saving: false, open: true });
    },
    async save() {
      this.saving = true; this.error = '';
      try {
        if (this.editing) await api.put(`/commands/${this.editing.id}`, this.form); else await api.post('/commands', this.form);
        toast.success(`Command “${this.form.name}” ${this.editing ? 'saved' : 'created'}`);
        this.open = false; await load('commands');
      } catch (e) { this.error = e.message; } finally { this.saving = false; }
    },
  },
};

export default {
  name: 'CommandsPage',
  mixins: [entityPage('commands', 'command', ['clients'])],
  components: { Icon, PageHeader, EmptyState, Skeleton, ErrorBanner, CommandDialog },
  computed: { items() { return this.sorted(store.commands.filter((x) => matches(x, this.filter, ['name', 'description', 'prompt']))); } },
  template: `
  <div class="page">
    <PageHeader title="Commands" icon="terminal" :count="s.commands.length" new-label="New command" v-model:filter="filter" v-model:sort="sort" :shown="items.length" @new="$refs.dlg.show()"
      subtitle="Reusable prompts for scheduled and webhook-triggered runs."/>
    <ErrorBanner :error="s.errors.commands"/>
    <Skeleton v-if="!s.loaded.commands"/>
    <EmptyState v-else-if="!s.commands.length" icon="terminal" title="No commands yet" text="Save a prompt you run often." action="New command" @action="$refs.dlg.show()"/>
    <div v-else class="grid">
      <article class="card entity command" v-for="c in items" :key="c.id" tabindex="0" @click="$refs.dlg.show(c)" @keydown.enter="$refs.dlg.show(c)">
        <header class="card-head"><span class="type-badge t-cmd">CMD</span><h3>{{ c.name }}</h3></header>
        <p class="muted small" v-if="c.description">{{ c.description }}</p>
        <p class="prompt-preview small clamp">{{ c.prompt }}</p>
        <footer class="card-actions" @click.stop><span class="spacer"></span>
          <button class="icon-btn" type="button" @click="$refs.dlg.show(c)" title="Edit" aria-label="Edit"><Icon name="edit"/></button>
          <button class="icon-btn danger" type="button" @click="remove(c)" title="Delete" aria-label="Delete"><Icon name="trash"/></button>
        </footer>
      </article>
    </div>
    <CommandDialog ref="dlg"/>
  </div>`,
};
