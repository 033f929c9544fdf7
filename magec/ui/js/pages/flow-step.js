// Recursive tree editor for one flow step (agent leaf or sequential/parallel/loop container).
// Steps are edited in place: the dialog owns a deep copy of the flow.
import { store } from '../store.js';
import { Icon } from '../components/icon.js';

export const STEP_TYPES = {
  agent: { label: 'Agent', hint: 'Runs one agent' },
  sequential: { label: 'Sequential', hint: 'Runs its steps one after another' },
  parallel: { label: 'Parallel', hint: 'Runs its steps at the same time' },
  loop: { label: 'Loop', hint: 'Repeats its steps until max iterations or an exit condition' },
};

export function newStep(type) {
  if (type === 'agent') return { type, agentId: '', responseAgent: false };
  if (type === 'loop') return { type, maxIterations: 3, exit: { mode: 'none', expression: '' }, steps: [] };
  return { type, steps: [] };
}

// Stable v-for keys for step objects without adding fields to the saved JSON.
const keys = new WeakMap();
let seq = 0;
function keyOf(o) { if (!keys.has(o)) keys.set(o, ++seq); return keys.get(o); }

export const FlowStep = {
  name: 'FlowStep',
  components: { Icon },
  props: { step: Object, path: String, siblings: Array, index: Number, errorPath: String },
  emits: ['remove'],
  data() { return { s: store }; },
  computed: {
    isContainer() { return this.step.type !== 'agent'; },
    hasError() { return !!this.errorPath && (this.errorPath === this.path || this.errorPath.startsWith(this.path + '.') && !this.errorPath.slice(this.path.length + 1).startsWith('steps')); },
    agent() { return store.agents.find((a) => a.id === this.step.agentId); },
    exit() { return this.step.exit || { mode: 'none' }; },
  },
  template: `
  <div class="fstep" :class="['fs-' + step.type, {error: hasError}]" :data-path="path">
    <div class="fstep-head">
      <span class="fs-badge" v-if="step.type === 'agent'" :title="STEP_TYPES[step.type] && STEP_TYPES[step.type].hint">{{ STEP_TYPES[step.type] ? STEP_TYPES[step.type].label : step.type }}</span>
      <template v-if="step.type === 'agent'">
        <select v-model="step.agentId" aria-label="Agent" class="grow">
          <option value="">— choose agent —</option>
          <option v-for="a in s.agents" :key="a.id" :value="a.id">{{ a.name }}{{ a.valid === false ? ' (invalid)' : '' }}</option>
        </select>
        <label class="check small" title="Its answer is what the user sees"><input type="checkbox" v-model="step.responseAgent"> Response</label>
      </template>
      <template v-else>
        <select :value="step.type" @change="changeType($event.target.value)" aria-label="Container type" class="type-sel">
          <option value="sequential">Sequential</option><option value="parallel">Parallel</option><option value="loop">Loop</option></select>
        <span class="spacer"></span>
      </template>
      <span class="fstep-tools">
        <button type="button" class="icon-btn" :disabled="!siblings || index === 0" @click="move(-1)" title="Move up" aria-label="Move up"><Icon name="up"/></button>
        <button type="button" class="icon-btn" :disabled="!siblings || index === siblings.length - 1" @click="move(1)" title="Move down" aria-label="Move down"><Icon name="down"/></button>
        <button type="button" class="icon-btn danger" v-if="siblings" @click="$emit('remove')" title="Remove step" aria-label="Remove step"><Icon name="x"/></button>
      </span>
    </div>
    <div class="loop-opts" v-if="step.type === 'loop'">
      <label>Max iterations <input type="number" min="1" v-model.number="step.maxIterations" class="narrow" aria-label="Max iterations"></label>
      <label>Exit <select v-model="exit.mode" aria-label="Exit mode">
        <option value="none">After max iterations</option>
        <option value="agent">Agent decides (exit_loop tool)</option>
        <option value="expression">CEL expression</option></select></label>
      <input v-if="exit.mode === 'expression'" v-model="exit.expression" class="mono grow" placeholder="state.approved == true" aria-label="CEL expression">
    </div>
    <div class="fstep-children" v-if="isContainer">
      <FlowStep v-for="(c, i) in step.steps" :key="keyOf(c)" :step="c" :path="path + '.steps[' + i + ']'"
        :siblings="step.steps" :index="i" :error-path="errorPath" @remove="removeAt(i)"/>
      <div class="muted small empty-steps" v-if="!step.steps.length">Empty — add steps below.</div>
      <div class="add-row">
        <button type="button" class="btn ghost sm" v-for="(t, k) in STEP_TYPES" :key="k" @click="add(k)" :title="t.hint"><Icon name="plus" :size="12"/> {{ t.label }}</button>
      </div>
    </div>
  </div>`,
  setup() { return { STEP_TYPES, keyOf }; },
  created() {
    if (this.step.type === 'loop' && !this.step.exit) this.step.exit = { mode: 'none', expression: '' };
  },
  methods: {
    // Keyboard use: focus follows the step. The new step's first control came before the "+"
    // buttons, so Enter on "+ Agent" left focus there and Tab walked away from the new step; a
    // removed step took the focus with it (to the page body); a moved one lost it.
    children() { return [...(this.$el.querySelector(':scope > .fstep-children')?.children || [])].filter((e) => e.matches('.fstep')); },
    focusChild(i) {
      this.$nextTick(() => {
        const kids = this.children();
        const el = kids[Math.min(i, kids.length - 1)];
        const target = el ? el.querySelector('.fstep-head select') : this.$el.querySelector(':scope > .fstep-children > .add-row button');
        if (target) target.focus();
      });
    },
    add(type) { if (!this.step.steps) this.step.steps = []; this.step.steps.push(newStep(type)); this.focusChild(this.step.steps.length - 1); },
    removeAt(i) { this.step.steps.splice(i, 1); this.focusChild(i); },
    move(d) {
      const a = this.siblings; const i = this.index; const j = i + d;
      if (j < 0 || j >= a.length) return;
      const [x] = a.splice(i, 1); a.splice(j, 0, x);
      this.$nextTick(() => {
        const [first, second] = d < 0 ? ['Move up', 'Move down'] : ['Move down', 'Move up'];
        const btn = (l) => this.$el.querySelector(`:scope > .fstep-head [aria-label="${l}"]`);
        (btn(first) && !btn(first).disabled ? btn(first) : btn(second))?.focus();
      });
    },
    changeType(t) {
      this.step.type = t;
      if (t === 'loop') { this.step.maxIterations ||= 3; this.step.exit ||= { mode: 'none', expression: '' }; }
      else { delete this.step.maxIterations; delete this.step.exit; }
    },
  },
};
