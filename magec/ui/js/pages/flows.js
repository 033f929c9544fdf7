// Flows: list of multi-agent flows; the dialog edits a tree (root steps) or a graph (flows-graph.js)
// flow, the form the flow was written in (a new flow picks one). The server validates on save and
// words its errors for people ("Step 2: agent is required"; the error's `field` keeps the path that
// highlights the step). A flow the runtime cannot build (an agent without a backend, a step left
// empty by a force-deleted agent…) shows "invalid" and why, on its card and in its dialog; the list
// refreshes while the page is open, so fixing the agent clears it without a reload.
import { api } from '../api.js';
import { store, load, nameOf, isPending, liveHealth, nameTakenBy } from '../store.js';
import { toast } from '../toast.js';
import { route, go, clearParams, onAction } from '../router.js';
import { Icon } from '../components/icon.js';
import { Modal } from '../components/modal.js';
import { PageHeader, EmptyState, Skeleton, ErrorBanner, matches, sortable, clone } from '../components/common.js';
import { confirmDelete } from '../components/confirm.js';
import { FlowStep, newStep } from './flow-step.js';
import { FlowGraph, newGraph, graphOutline } from './flows-graph.js';

// One-line outline of a step tree: "seq(A, par(B, C), loop×3(D))"
function outline(st) {
  if (st && st.nodes) return graphOutline(st);
  if (st && st.name !== undefined) st = st.root;
  if (!st) return '';
  if (st.type === 'agent') return (nameOf('agents', st.agentId) || '?') + (st.responseAgent ? '★' : '');
  const tag = { sequential: 'seq', parallel: 'par', loop: `loop×${st.maxIterations || '?'}` }[st.type] || st.type;
  return `${tag}(${(st.steps || []).map(outline).join(', ')})`;
}

const FlowDialog = {
  name: 'FlowDialog',
  components: { Modal, FlowStep, FlowGraph, Icon },
  data() { return { open: false, editing: null, form: null, saving: false, error: '', errorPath: '', errorField: '' }; },
  // Any edit clears the highlighted step of the last server error.
  watch: { form: { deep: true, handler() { this.errorPath = ''; } } },
  computed: {
    isGraph() { return !!this.form && this.form.kind === 'graph'; },
    nameClash() { return this.form ? nameTakenBy(this.form.name, this.editing && this.editing.id) : ''; },
    current() { return this.editing && store.flows.find((f) => f.id === this.editing.id); },
  },
  setup() { return { isPending }; },
  template: `
  <Modal v-model:open="open" :title="editing ? 'Edit flow' : 'New flow'" wide :track="form" testid="flow-dialog">
    <form class="form" id="flow-form" @submit.prevent="save" v-if="form">
      <div class="banner warn" v-if="current && current.valid === false && !isPending(current)" role="status" data-testid="flow-invalid">
        <Icon name="alert" :size="16"/> <span>This flow cannot run: {{ current.invalidReason || 'invalid' }}</span></div>
      <div class="grid-2">
        <div class="field"><label for="f-name">Name <span class="req">*</span></label><input id="f-name" v-model="form.name" required autofocus placeholder="e.g. Review">
          <p class="warn-text small" v-if="nameClash" data-testid="name-clash" role="status">Another {{ nameClash }} is already named “{{ form.name.trim() }}”: clients that call it by name (run API, webhooks, <code>/v1</code> model) will be asked for the id instead. A different name avoids that.</p></div>
        <div class="field"><label for="f-desc">Description</label><input id="f-desc" v-model="form.description"></div>
      </div>
      <div class="field" v-if="!editing"><label>Form</label>
        <div class="gedit-bar" role="radiogroup" aria-label="Flow form">
          <label class="check"><input type="radio" value="tree" v-model="form.kind" name="flow-kind"> Tree (sequential, parallel, loop)</label>
          <label class="check"><input type="radio" value="graph" v-model="form.kind" name="flow-kind"> Graph (routers, joins, map, code…)</label>
        </div></div>
      <div class="field" v-if="!isGraph"><label>Steps</label>
        <p class="hint">Nest sequential, parallel and loop blocks; mark the agent(s) whose answer the user sees as <strong>Response</strong>.</p>
        <div class="flow-tree"><FlowStep :step="form.root" path="root" :error-path="errorPath"/></div>
      </div>
      <div class="field" v-else><label>Graph</label>
        <FlowGraph :graph="form.graph" :error-field="errorField" :error-text="error" :self-id="editing ? editing.id : ''"/>
      </div>
      <p class="error-text" v-if="error" role="alert" data-testid="flow-error">{{ error }}</p>
    </form>
    <template #footer>
      <button class="btn ghost" type="button" @click="open = false">Cancel</button>
      <button class="btn" type="submit" form="flow-form" :disabled="saving">{{ saving ? 'Saving…' : (editing ? 'Save' : 'Create') }}</button>
    </template>
  </Modal>`,
  methods: {
    show(f) {
      this.editing = f || null;
      const graph = f && f.nodes ? clone({ entry: f.entry, nodes: f.nodes, edges: f.edges, startX: f.startX, startY: f.startY }) : newGraph();
      this.form = f ? { name: f.name, description: f.description || '', kind: f.nodes ? 'graph' : 'tree', graph,
        root: clone(f.root) || newStep('sequential') }
        : { name: '', description: '', kind: 'tree', graph, root: newStep('sequential') };
      Object.assign(this, { error: '', errorPath: '', errorField: '', saving: false, open: true });
    },
    async save() {
      this.saving = true; this.error = ''; this.errorPath = ''; this.errorField = '';
      const body = { name: this.form.name.trim(), description: this.form.description };
      if (this.isGraph) Object.assign(body, clone(this.form.graph)); else body.root = clone(this.form.root);
      try {
        if (this.editing) await api.put(`/flows/${this.editing.id}`, body); else await api.post('/flows', body);
        toast.success(`Flow “${body.name}” ${this.editing ? 'saved' : 'created'}`);
        this.open = false;
        await load('flows');
      } catch (e) {
        this.error = e.message;
        this.errorField = e.data?.field || '';
        const m = /root(?:\.steps\[\d+\])*(?:\.\w+)?/.exec(e.data?.field || e.message || '');
        if (m) this.errorPath = m[0];
      } finally { this.saving = false; }
    },
  },
};

export default {
  name: 'FlowsPage',
  mixins: [sortable('flows')],
  components: { Icon, PageHeader, EmptyState, Skeleton, ErrorBanner, FlowDialog },
  data() { return { s: store, filter: '' }; },
  computed: { items() { return this.sorted(store.flows.filter((f) => matches(f, this.filter, ['name', 'description'], [outline(f)]))); } },
  template: `
  <div class="page">
    <PageHeader title="Flows" icon="flow" :count="s.flows.length" new-label="New flow" v-model:filter="filter" v-model:sort="sort" :shown="items.length" @new="$refs.dlg.show()"
      subtitle="Combine agents — possibly on different backends — in sequence, in parallel or in loops. A flow is called like an agent."/>
    <ErrorBanner :error="s.errors.flows"/>
    <Skeleton v-if="!s.loaded.flows"/>
    <EmptyState v-else-if="!s.flows.length" icon="flow" title="No flows yet" text="A flow chains agents: e.g. two researchers in parallel, then a critic that answers."
      action="New flow" @action="$refs.dlg.show()"/>
    <div v-else class="grid">
      <article class="card entity flow" v-for="f in items" :key="f.id" tabindex="0" @click="$refs.dlg.show(f)" @keydown.enter="$refs.dlg.show(f)" :data-testid="'flow-' + f.name">
        <header class="card-head"><span class="type-badge t-flow">FLW</span><h3>{{ f.name }}</h3>
          <span class="badge muted" v-if="isPending(f)" title="The runtime is building this flow">building…</span>
          <span class="badge" v-else :class="f.valid === false ? 'danger' : 'ok'" :title="f.invalidReason || 'ready'" :data-testid="'flow-status-' + f.name">{{ f.valid === false ? 'invalid' : 'ready' }}</span></header>
        <p class="muted small clamp" v-if="f.description">{{ f.description }}</p>
        <p class="error-text small" v-if="f.valid === false && f.invalidReason && !isPending(f)" :data-testid="'flow-reason-' + f.name">{{ f.invalidReason }}</p>
        <p class="mono small outline">{{ outline(f) }}</p>
        <footer class="card-actions" @click.stop>
          <button class="btn ghost sm" type="button" @click="go('playground', {app: f.id})"><Icon name="chat" :size="14"/> Run</button>
          <span class="spacer"></span>
          <button class="icon-btn" type="button" @click="$refs.dlg.show(f)" title="Edit" aria-label="Edit"><Icon name="edit"/></button>
          <button class="icon-btn danger" type="button" @click="remove(f)" title="Delete" aria-label="Delete"><Icon name="trash"/></button>
        </footer>
      </article>
    </div>
    <FlowDialog ref="dlg"/>
  </div>`,
  setup() { return { outline, go, route, isPending }; },
  mounted() { this.off = onAction('new', () => this.$refs.dlg.show()); this.stopLive = liveHealth(['flows']); this.openFromRoute(); },
  unmounted() { this.off(); this.stopLive(); },
  watch: { 'route.params.edit'() { this.openFromRoute(); }, 's.loaded.flows'() { this.openFromRoute(); } },
  methods: {
    openFromRoute() {
      const id = route.params.edit;
      if (!id || !store.loaded.flows) return;
      const f = store.flows.find((x) => x.id === id);
      if (f) this.$refs.dlg.show(f);
      clearParams();
    },
    async remove(f) { if (await confirmDelete({ kind: 'flow', name: f.name, path: `/flows/${f.id}` })) await Promise.all([load('flows'), load('clients')]); },
  },
};
