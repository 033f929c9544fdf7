// Graph flow editor (Magec G2 {entry, nodes[], edges[]}): a canvas with draggable nodes, edges drawn
// between them (click a node's ● port, then the target node), a form per node, and a list view for
// phones (the same forms, edges added from selects). Edits happen in place on the dialog's copy of
// the flow; layout is saved in the nodes' x/y/w/h and the flow's startX/startY. The server validates
// on save; a 400 naming `nodes[i]…` or `edges[i]…` is shown at that node or edge.
import { store } from '../store.js';
import { Icon } from '../components/icon.js';

export const NODE_TYPES = {
  agent: { label: 'Agent', hint: 'Runs an agent on the conversation', color: 'var(--c-agent)' },
  router: { label: 'Router', hint: 'Routes by CEL rules over state, iterations and input (else "otherwise")', color: '#ca8a04' },
  join: { label: 'Join', hint: 'Waits for all incoming branches', color: '#4b5563' },
  parallel: { label: 'Map', hint: 'Runs an agent once per item of a list input', color: '#9333ea' },
  subflow: { label: 'Subflow', hint: 'Runs another flow', color: 'var(--c-flow)' },
  expression: { label: 'Expression', hint: 'A CEL expression over input and state', color: '#0e7490' },
  template: { label: 'Template', hint: 'Text with {{ input }}, {{ input.field }}, {{ state.key }}', color: '#059669' },
  code: { label: 'Code', hint: 'A Starlark script: reads input and state, assigns output', color: '#db2777' },
};
const W = 170, H = 64;

export function newGraph() { return { entry: '', nodes: [], edges: [], startX: 24, startY: 40 }; }

export function newNode(type, graph) {
  let n = 1;
  while (graph.nodes.some((x) => x.id === `${type}_${n}`)) n++;
  const last = graph.nodes[graph.nodes.length - 1];
  const node = { id: `${type}_${n}`, type, x: last ? last.x + 210 : 140, y: last ? last.y : 40, w: W, h: H };
  if (node.x > 1100) { node.x = 140; node.y = (last?.y || 40) + 110; }
  const extra = {
    agent: { agentId: '', responseAgent: false },
    router: { rules: [{ when: '', route: '' }] },
    parallel: { agentId: '', maxConcurrency: 0, outputKey: '' },
    subflow: { flowId: '' },
    expression: { expression: '', outputKey: '' },
    template: { template: '', outputKey: '' },
    code: { script: 'output = input', timeoutMs: 0, maxOutputBytes: 0, outputKey: '' },
  }[type] || {};
  return Object.assign(node, extra);
}

// Route labels a router can emit: its rules' routes, then "otherwise".
export function labels(node) {
  return [...new Set([...(node.rules || []).map((r) => r.route).filter(Boolean), 'otherwise'])];
}

// "classify → route → {billing, general}"-style summary for the flows list.
export function graphOutline(f) {
  const name = (n) => (n.type === 'agent' && store.agents.find((a) => a.id === n.agentId)?.name) || n.id;
  return `graph(${(f.nodes || []).map((n) => name(n) + (n.responseAgent ? '★' : '')).join(', ')})`;
}

const STYLE = `
dialog.modal.wide:has(.gedit) { max-width: min(1280px, calc(100vw - 24px)); width: min(1280px, calc(100vw - 24px)); }
.gedit { display: flex; flex-direction: column; gap: 8px; }
.gedit-bar { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; }
.gedit-bar select { width: auto; min-width: 140px; }
.gedit-bar .btn[aria-pressed="true"] { background: var(--accent-soft); border-color: var(--accent); color: var(--accent); }
.gedit-main { display: grid; grid-template-columns: minmax(0, 1fr) 300px; gap: 10px; }
.gcanvas-wrap { overflow: auto; max-height: 60vh; border: 1px solid var(--border); border-radius: var(--radius); background:
  var(--panel-2) radial-gradient(var(--border) 1px, transparent 1px) 0 0 / 20px 20px; }
.gcanvas { position: relative; }
.gcanvas svg { position: absolute; inset: 0; overflow: visible; }
.gnode { position: absolute; box-sizing: border-box; background: var(--panel); border: 1px solid var(--border-2);
  border-left: 5px solid var(--gc); border-radius: 8px; padding: 6px 18px 6px 8px; cursor: grab; user-select: none;
  touch-action: none; font-size: 12.5px; overflow: hidden; }
.gnode.sel { box-shadow: 0 0 0 2px var(--accent); } .gnode.error { border-color: var(--danger); box-shadow: 0 0 0 2px var(--danger-soft); }
.gnode.entry::before { content: 'entry'; position: absolute; top: 2px; right: 20px; font-size: 10px; color: var(--muted); }
.gnode .gid { font-weight: 600; display: block; white-space: nowrap; text-overflow: ellipsis; overflow: hidden; }
.gnode .gsub { color: var(--muted); display: block; white-space: nowrap; text-overflow: ellipsis; overflow: hidden; }
.gport { position: absolute; right: 2px; top: 50%; transform: translateY(-50%); width: 14px; height: 14px; border-radius: 50%;
  border: 2px solid var(--gc); background: var(--panel); padding: 0; cursor: crosshair; }
.gport.on { background: var(--gc); }
.gstart { position: absolute; padding: 4px 10px; border-radius: 14px; background: var(--text); color: var(--panel);
  font-size: 11px; font-weight: 700; cursor: grab; touch-action: none; user-select: none; }
.gedge { fill: none; stroke: var(--muted); stroke-width: 2; cursor: pointer; }
.gedge.sel { stroke: var(--accent); stroke-width: 3; } .gedge.error { stroke: var(--danger); } .gedge.start { stroke-dasharray: 5 4; }
.gedge-label { font-size: 11px; fill: var(--text); paint-order: stroke; stroke: var(--panel-2); stroke-width: 4px; }
.gpanel { border: 1px solid var(--border); border-radius: var(--radius); padding: 10px; display: flex; flex-direction: column;
  gap: 10px; background: var(--panel); max-height: 60vh; overflow: auto; }
.gpanel textarea { font-family: var(--mono, monospace); min-height: 70px; }
.grule { display: grid; grid-template-columns: 1fr 90px auto; gap: 4px; }
.gout { display: flex; gap: 4px; align-items: center; font-size: 12.5px; }
.node-error { color: var(--danger); font-size: 12.5px; margin: 0; }
.glist { display: flex; flex-direction: column; gap: 10px; }
.glist .gpanel { max-height: none; border-left: 5px solid var(--gc); }
@media (max-width: 760px) { .gedit-main { grid-template-columns: 1fr; }
  dialog.modal.wide:has(.gedit) { max-width: 100vw; width: 100%; } }
`;
function ensureStyle() {
  if (document.getElementById('flows-graph-style')) return;
  const el = document.createElement('style');
  el.id = 'flows-graph-style';
  el.textContent = STYLE;
  document.head.appendChild(el);
}

// The form of one node (used beside the canvas and in the list view).
const NodeForm = {
  name: 'NodeForm',
  components: { Icon },
  props: { node: Object, graph: Object, index: Number, error: String, selfId: String },
  emits: ['remove', 'rename'],
  // idText: the node id as typed, until it is committed (change). The field shows it, not node.id:
  // any re-render before the user leaves the field (the flows list the page polls, the agents
  // arriving late) would set a field bound to node.id back to the saved id and lose what was typed.
  // A rejected id (empty, or another node's) stays in the field with the reason beside it.
  data() { return { s: store, addTo: '', addRoute: '', idText: null }; },
  computed: {
    idProblem() {
      const id = this.idText === null ? this.node.id : this.idText.trim();
      if (!id) return 'A node needs an id.';
      if (id !== this.node.id && this.graph.nodes.some((n) => n.id === id)) return `Another node is already called “${id}”.`;
      return '';
    },
    outgoing() { return this.graph.edges.filter((e) => e.from === this.node.id); },
    targets() { return this.graph.nodes.filter((n) => n.id !== this.node.id); },
    otherFlows() { return store.flows.filter((f) => f.id !== this.selfId); },
  },
  template: `
  <div class="gnode-form" :data-node-form="node.id">
    <p class="node-error" v-if="error" role="alert" data-testid="node-error">{{ error }}</p>
    <div class="field"><label :for="'gid-' + index">Node id</label>
      <input :id="'gid-' + index" :value="idText ?? node.id" @input="idText = $event.target.value" @change="commitId"
        aria-label="Node id" :aria-invalid="!!idProblem" :aria-describedby="idProblem ? 'gid-err-' + index : null">
      <p class="error-text small" :id="'gid-err-' + index" v-if="idProblem" data-testid="node-id-error">{{ idProblem }}</p></div>
    <p class="hint">{{ NODE_TYPES[node.type]?.label }} — {{ NODE_TYPES[node.type]?.hint }}</p>
    <template v-if="node.type === 'agent' || node.type === 'parallel'">
      <div class="field"><label>Agent</label>
        <select v-model="node.agentId" aria-label="Agent"><option value="">— choose agent —</option>
          <option v-for="a in s.agents" :key="a.id" :value="a.id">{{ a.name }}</option></select></div>
      <label class="check"><input type="checkbox" v-model="node.responseAgent" aria-label="Response"> Response (the user sees its answer)</label>
      <div class="field" v-if="node.type === 'parallel'"><label>Max concurrency (0 = all)</label>
        <input type="number" min="0" v-model.number="node.maxConcurrency" aria-label="Max concurrency"></div>
    </template>
    <template v-if="node.type === 'router'">
      <div class="field"><label>Rules (first true wins; else "otherwise")</label>
        <div class="grule" v-for="(r, j) in node.rules" :key="j">
          <input v-model="r.when" placeholder='input.contains("billing")' :aria-label="'Rule ' + (j + 1) + ' condition'">
          <input v-model="r.route" placeholder="route" :aria-label="'Rule ' + (j + 1) + ' route'">
          <button type="button" class="icon-btn danger" @click="node.rules.splice(j, 1)" aria-label="Remove rule"><Icon name="x"/></button>
        </div>
        <button type="button" class="btn ghost sm" @click="node.rules.push({when: '', route: ''})">+ Rule</button>
        <p class="hint">CEL sees <code>state</code>, <code>iterations</code> (earlier activations in this run) and <code>input</code>.</p>
      </div>
    </template>
    <div class="field" v-if="node.type === 'subflow'"><label>Flow</label>
      <select v-model="node.flowId" aria-label="Flow"><option value="">— choose flow —</option>
        <option v-for="f in otherFlows" :key="f.id" :value="f.id">{{ f.name }}</option></select></div>
    <div class="field" v-if="node.type === 'expression'"><label>CEL expression</label>
      <input v-model="node.expression" aria-label="CEL expression" placeholder='{"n": size(input)}'></div>
    <div class="field" v-if="node.type === 'template'"><label>Template</label>
      <textarea v-model="node.template" aria-label="Template" placeholder="Summary: {{ input }}"></textarea></div>
    <template v-if="node.type === 'code'">
      <div class="field"><label>Starlark script</label><textarea v-model="node.script" aria-label="Script"></textarea></div>
      <div class="grid-2">
        <div class="field"><label>Timeout ms</label><input type="number" min="0" v-model.number="node.timeoutMs" aria-label="Timeout ms"></div>
        <div class="field"><label>Max output bytes</label><input type="number" min="0" v-model.number="node.maxOutputBytes" aria-label="Max output bytes"></div>
      </div>
    </template>
    <div class="field" v-if="['expression', 'template', 'code', 'parallel'].includes(node.type)"><label>Output key (flow state)</label>
      <input v-model="node.outputKey" aria-label="Output key" placeholder="e.g. summary"></div>
    <div class="field"><label>Next</label>
      <div class="gout" v-for="e in outgoing" :key="e.from + e.to + (e.route || '')" :data-edge="e.from + '>' + e.to">
        <span>→ {{ e.to }}</span>
        <select v-if="node.type === 'router'" v-model="e.route" aria-label="Edge route">
          <option v-for="l in labels(node)" :key="l" :value="l">{{ l }}</option></select>
        <button type="button" class="icon-btn danger" @click="removeEdge(e)" :aria-label="'Remove edge to ' + e.to"><Icon name="x"/></button>
      </div>
      <div class="gout">
        <select v-model="addTo" aria-label="Connect to"><option value="">connect to…</option>
          <option v-for="t in targets" :key="t.id" :value="t.id">{{ t.id }}</option></select>
        <select v-if="node.type === 'router'" v-model="addRoute" aria-label="New edge route">
          <option v-for="l in labels(node)" :key="l" :value="l">{{ l }}</option></select>
        <button type="button" class="btn ghost sm" :disabled="!addTo" @click="addEdge">Add</button>
      </div>
    </div>
    <div class="gout">
      <button type="button" class="btn ghost sm" :disabled="graph.entry === node.id" @click="graph.entry = node.id">{{ graph.entry === node.id ? 'Entry node' : 'Make entry' }}</button>
      <span class="spacer"></span>
      <button type="button" class="btn ghost sm danger-text" @click="$emit('remove')">Delete node</button>
    </div>
  </div>`,
  setup() { return { NODE_TYPES, labels }; },
  methods: {
    // A new id renames the node (its edges and the entry follow); this form is keyed by the id, so
    // it is mounted again with idText cleared. A rejected id keeps what was typed.
    commitId() {
      if (this.idText === null || this.idProblem) return;
      const id = this.idText.trim();
      this.idText = null;
      if (id !== this.node.id) this.$emit('rename', id);
    },
    addEdge() {
      const route = this.node.type === 'router' ? (this.addRoute || labels(this.node)[0]) : undefined;
      this.graph.edges.push(route ? { from: this.node.id, to: this.addTo, route } : { from: this.node.id, to: this.addTo });
      this.addTo = '';
    },
    removeEdge(e) { this.graph.edges.splice(this.graph.edges.indexOf(e), 1); },
  },
};

export const FlowGraph = {
  name: 'FlowGraph',
  components: { Icon, NodeForm },
  props: { graph: Object, errorField: String, errorText: String, selfId: String },
  data() {
    return { s: store, selected: this.graph.entry || this.graph.nodes[0]?.id || '', selectedEdge: -1, connecting: null,
      drag: null, view: window.matchMedia('(max-width: 760px)').matches ? 'list' : 'canvas', addType: 'agent' };
  },
  computed: {
    byId() { return Object.fromEntries(this.graph.nodes.map((n) => [n.id, n])); },
    sel() { return this.byId[this.selected] || null; },
    size() {
      const xs = this.graph.nodes.map((n) => (n.x || 0) + (n.w || W)), ys = this.graph.nodes.map((n) => (n.y || 0) + (n.h || H));
      return { w: Math.max(900, ...xs) + 160, h: Math.max(420, ...ys) + 120 };
    },
    // server error: `nodes[3].rules[0].when` -> node index 3; `edges[2]…` -> edge 2
    errNode() { const m = /^nodes\[(\d+)\]/.exec(this.errorField || ''); return m ? this.graph.nodes[+m[1]]?.id : null; },
    errEdge() { const m = /^edges\[(\d+)\]/.exec(this.errorField || ''); return m ? +m[1] : -1; },
  },
  watch: { errNode(id) { if (id) this.selected = id; }, errEdge(i) { if (i >= 0) this.selected = this.graph.edges[i]?.from || this.selected; } },
  created() { ensureStyle(); },
  template: `
  <div class="gedit" data-testid="graph-editor">
    <div class="gedit-bar">
      <select v-model="addType" aria-label="Node type">
        <option v-for="(t, k) in NODE_TYPES" :key="k" :value="k">{{ t.label }}</option></select>
      <button type="button" class="btn secondary sm" @click="add">+ Add node</button>
      <span class="hint" v-if="connecting">Click the node to connect <strong>{{ connecting }}</strong> to (Esc cancels)</span>
      <span class="spacer" style="flex:1"></span>
      <button type="button" class="btn ghost sm" :aria-pressed="view === 'canvas'" @click="view = 'canvas'">Canvas</button>
      <button type="button" class="btn ghost sm" :aria-pressed="view === 'list'" @click="view = 'list'">List</button>
    </div>
    <div class="gedit-main" v-if="view === 'canvas'">
      <div class="gcanvas-wrap" @keydown.esc="connecting = null" tabindex="-1">
        <div class="gcanvas" :style="{width: size.w + 'px', height: size.h + 'px'}" data-testid="graph-canvas" @pointerdown.self="selected = ''; selectedEdge = -1">
          <svg :width="size.w" :height="size.h">
            <defs><marker id="garrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
              <path d="M0,0 L10,5 L0,10 z" fill="currentColor"/></marker></defs>
            <path v-if="byId[graph.entry]" class="gedge start" :d="startPath()" marker-end="url(#garrow)"/>
            <g v-for="(e, i) in graph.edges" :key="i">
              <path class="gedge" :class="{sel: selectedEdge === i, error: errEdge === i}" :d="edgePath(e)" marker-end="url(#garrow)"
                :data-testid="'edge-' + e.from + '-' + e.to" @click.stop="selectedEdge = i; selected = e.from"/>
              <text v-if="e.route" class="gedge-label" :x="mid(e).x" :y="mid(e).y - 4" text-anchor="middle">{{ e.route }}</text>
            </g>
          </svg>
          <div class="gstart" :style="{left: (graph.startX ?? 24) + 'px', top: (graph.startY ?? 40) + 'px'}" @pointerdown="startDrag($event, null)">START</div>
          <div v-for="n in graph.nodes" :key="n.id" class="gnode" :class="{sel: n.id === selected, error: n.id === errNode, entry: n.id === graph.entry}"
            :style="{left: (n.x || 0) + 'px', top: (n.y || 0) + 'px', width: (n.w || W) + 'px', height: (n.h || H) + 'px', '--gc': NODE_TYPES[n.type]?.color}"
            :data-testid="'gnode-' + n.id" @pointerdown="startDrag($event, n)" @click="clickNode(n)">
            <span class="gid">{{ n.id }}</span><span class="gsub">{{ subtitle(n) }}</span>
            <button type="button" class="gport" :class="{on: connecting === n.id}" :aria-label="'Connect from ' + n.id"
              @pointerdown.stop @click.stop="connecting = connecting === n.id ? null : n.id"></button>
          </div>
        </div>
      </div>
      <aside class="gpanel" v-if="sel" :style="{'--gc': NODE_TYPES[sel.type]?.color}" data-testid="node-panel">
        <NodeForm :node="sel" :graph="graph" :index="graph.nodes.indexOf(sel)" :error="sel.id === errNode ? errorText : ''"
          :self-id="selfId" :key="sel.id" @remove="remove(sel)" @rename="rename(sel, $event)"/>
        <p class="node-error" v-if="errEdge >= 0 && graph.edges[errEdge]?.from === sel.id">{{ errorText }}</p>
      </aside>
      <aside class="gpanel" v-else><p class="hint">Add nodes, drag them, connect them with the ● port; click a node to edit it.
        The first node added is the entry; a router's edges carry its route labels.</p></aside>
    </div>
    <div class="glist" v-else data-testid="graph-list">
      <p class="hint" v-if="!graph.nodes.length">No nodes yet: add one above.</p>
      <section class="gpanel" v-for="(n, i) in graph.nodes" :key="n.id" :style="{'--gc': NODE_TYPES[n.type]?.color}" :data-testid="'glist-' + n.id">
        <strong>{{ n.id }}<span class="muted small" v-if="graph.entry === n.id"> · entry</span></strong>
        <NodeForm :node="n" :graph="graph" :index="i" :error="n.id === errNode ? errorText : ''" :self-id="selfId" @remove="remove(n)" @rename="rename(n, $event)"/>
      </section>
    </div>
  </div>`,
  setup() { return { NODE_TYPES, W, H }; },
  mounted() { this.onKey = (e) => { if (e.key === 'Escape' && this.connecting) { e.stopPropagation(); this.connecting = null; } }; window.addEventListener('keydown', this.onKey, true); },
  unmounted() { window.removeEventListener('keydown', this.onKey, true); },
  methods: {
    subtitle(n) {
      if (n.type === 'agent' || n.type === 'parallel') return (store.agents.find((a) => a.id === n.agentId)?.name || 'no agent') + (n.responseAgent ? ' ★' : '');
      if (n.type === 'router') return `${(n.rules || []).length} rule(s)`;
      if (n.type === 'subflow') return store.flows.find((f) => f.id === n.flowId)?.name || 'no flow';
      return NODE_TYPES[n.type]?.label || n.type;
    },
    add() {
      const node = newNode(this.addType, this.graph);
      this.graph.nodes.push(node);
      if (!this.graph.entry) this.graph.entry = node.id;
      this.selected = node.id;
    },
    remove(n) {
      this.graph.edges = this.graph.edges.filter((e) => e.from !== n.id && e.to !== n.id);
      this.graph.nodes.splice(this.graph.nodes.indexOf(n), 1);
      if (this.graph.entry === n.id) this.graph.entry = this.graph.nodes[0]?.id || '';
      this.selected = '';
    },
    rename(n, id) {
      if (!id || id === n.id || this.byId[id]) return;
      for (const e of this.graph.edges) { if (e.from === n.id) e.from = id; if (e.to === n.id) e.to = id; }
      if (this.graph.entry === n.id) this.graph.entry = id;
      if (this.selected === n.id) this.selected = id;
      n.id = id;
    },
    clickNode(n) {
      if (this.moved) { this.moved = false; return; }
      if (this.connecting && this.connecting !== n.id) {
        const from = this.byId[this.connecting];
        const edge = { from: from.id, to: n.id };
        if (from.type === 'router') {
          const used = this.graph.edges.filter((e) => e.from === from.id).map((e) => e.route);
          edge.route = labels(from).find((l) => !used.includes(l)) || 'otherwise';
        }
        this.graph.edges.push(edge);
        this.connecting = null;
      }
      this.selected = n.id; this.selectedEdge = -1;
    },
    startDrag(ev, n) {
      if (ev.button !== 0) return;
      const target = n || this.graph;
      const [kx, ky] = n ? ['x', 'y'] : ['startX', 'startY'];
      const ox = ev.clientX - (target[kx] ?? 0), oy = ev.clientY - (target[ky] ?? 0);
      const x0 = ev.clientX, y0 = ev.clientY;
      this.moved = false;
      const move = (e) => {
        if (Math.abs(e.clientX - x0) + Math.abs(e.clientY - y0) > 3) this.moved = true;
        if (!this.moved) return;
        target[kx] = Math.max(0, Math.round((e.clientX - ox) / 10) * 10);
        target[ky] = Math.max(0, Math.round((e.clientY - oy) / 10) * 10);
      };
      const up = () => { window.removeEventListener('pointermove', move); window.removeEventListener('pointerup', up); };
      window.addEventListener('pointermove', move);
      window.addEventListener('pointerup', up);
    },
    box(n) { return { x: n.x || 0, y: n.y || 0, w: n.w || W, h: n.h || H }; },
    curve(x1, y1, x2, y2) {
      if (x2 > x1 + 20) { const dx = Math.max(40, (x2 - x1) / 2); return `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`; }
      const drop = Math.max(y1, y2) + 70; // a back-edge loops below both nodes
      return `M${x1},${y1} C${x1 + 80},${drop} ${x2 - 80},${drop} ${x2},${y2}`;
    },
    edgePath(e) {
      const a = this.byId[e.from], b = this.byId[e.to];
      if (!a || !b) return '';
      const p = this.box(a), q = this.box(b);
      return this.curve(p.x + p.w, p.y + p.h / 2, q.x, q.y + q.h / 2);
    },
    startPath() {
      const q = this.box(this.byId[this.graph.entry]);
      return this.curve((this.graph.startX ?? 24) + 56, (this.graph.startY ?? 40) + 11, q.x, q.y + q.h / 2);
    },
    mid(e) {
      const a = this.byId[e.from], b = this.byId[e.to];
      if (!a || !b) return { x: 0, y: 0 };
      const p = this.box(a), q = this.box(b);
      const back = q.x <= p.x + p.w + 20;
      return { x: (p.x + p.w + q.x) / 2, y: back ? Math.max(p.y + p.h / 2, q.y + q.h / 2) + 52 : (p.y + p.h / 2 + q.y + q.h / 2) / 2 };
    },
  },
};
