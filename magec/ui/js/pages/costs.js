// Costs: what the agents cost (usage × the price table), the price editor, budgets. The chart is
// our own SVG (no library), shared with the Overview page as CostChart.
import { api, raw } from '../api.js';
import { store, load as loadKind } from '../store.js';
import { toast } from '../toast.js';
import { Icon } from '../components/icon.js';
import { PageHeader, ErrorBanner } from '../components/common.js';

const DAY = 86400000;
const iso = (d) => d.toISOString().slice(0, 10);
// Below 1, enough decimals for two significant digits (a small model's turn costs 0.000027, not "0.00").
const money = (v, cur) => {
  const n = v || 0;
  const digits = n && Math.abs(n) < 1 ? Math.min(10, Math.max(4, 2 - Math.floor(Math.log10(Math.abs(n))))) : 2;
  return `${n.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: digits })} ${cur || ''}`.trim();
};
const GROUPS = [['agent', 'Agent'], ['backend', 'Backend'], ['client', 'Client'], ['model', 'Model'], ['day', 'Day']];

// Cost per day as bars (last `days` days, UTC); empty days are zero-height bars.
export const CostChart = {
  name: 'CostChart',
  props: { days: { type: Number, default: 30 } },
  data() { return { data: null, error: '' }; },
  computed: {
    series() {
      if (!this.data) return [];
      const by = Object.fromEntries(this.data.items.map((i) => [i.day, i.cost]));
      const end = new Date(`${this.data.to}T00:00:00Z`).getTime();
      return Array.from({ length: this.days }, (_, k) => { const day = iso(new Date(end - (this.days - 1 - k) * DAY)); return { day, cost: by[day] || 0 }; });
    },
    max() { return Math.max(...this.series.map((p) => p.cost), 0); },
    bars() {
      const w = 600 / Math.max(this.series.length, 1);
      return this.series.map((p, k) => {
        const h = this.max ? Math.max((p.cost / this.max) * 110, p.cost ? 2 : 0) : 0;
        return { ...p, x: k * w + 1, w: Math.max(w - 2, 1), y: 120 - h, h };
      });
    },
  },
  template: `
  <div class="cost-chart" data-testid="cost-chart">
    <p class="error-text small" v-if="error">{{ error }}</p>
    <template v-else-if="data">
      <div class="row wrap"><strong data-testid="cost-total">{{ money(data.total.cost, data.currency) }}</strong>
        <span class="muted small">in the last {{ days }} days · {{ data.total.calls }} model calls<span v-if="data.total.unpriced"> · some models have no price</span></span></div>
      <svg viewBox="0 0 600 124" class="cost-svg" role="img" :aria-label="'Cost per day, last ' + days + ' days'" preserveAspectRatio="none" width="100%" height="124">
        <line x1="0" y1="120.5" x2="600" y2="120.5" stroke="currentColor" stroke-opacity="0.25"/>
        <rect v-for="b in bars" :key="b.day" :x="b.x" :y="b.y" :width="b.w" :height="b.h" rx="1.5" fill="var(--accent, #6366f1)" data-testid="cost-bar" :data-day="b.day" :data-cost="b.cost"><title>{{ b.day }}: {{ money(b.cost, data.currency) }}</title></rect>
      </svg>
      <div class="row small muted"><span>{{ series[0] && series[0].day }}</span><span style="margin-left:auto">{{ data.to }}</span></div>
    </template>
    <p class="muted small" v-else>Loading…</p>
  </div>`,
  setup() { return { money }; },
  async mounted() { await this.refresh(); },
  methods: {
    async refresh() {
      const to = new Date(); const from = new Date(to.getTime() - (this.days - 1) * DAY);
      try { this.data = await api.get(`/costs?groupBy=day&from=${iso(from)}&to=${iso(to)}`); this.error = ''; } catch (e) { this.error = e.message; }
    },
  },
};

export default {
  name: 'CostsPage',
  components: { Icon, PageHeader, ErrorBanner, CostChart },
  data() {
    const to = new Date();
    return { groupBy: 'agent', from: iso(new Date(to.getTime() - 29 * DAY)), to: iso(to), report: null, error: '',
      table: null, priceError: '', saving: false, budgets: [], budgetError: '',
      bf: { target: '', amount: null, unit: 'cost', period: 'month' } };
  },
  template: `
  <div class="page">
    <PageHeader title="Costs" icon="activity" subtitle="Tokens × prices per agent, backend, client, model and day; budgets."/>
    <ErrorBanner :error="error"/>
    <section class="panel"><div class="panel-head"><h2>Last 30 days</h2></div><CostChart ref="chart"/></section>
    <section class="panel">
      <div class="panel-head"><h2>Report</h2>
        <button class="btn ghost sm" type="button" @click="exportCsv" data-testid="cost-export"><Icon name="down" :size="14"/> Export CSV</button></div>
      <div class="row wrap">
        <label class="small">Group by <select v-model="groupBy" @change="load" data-testid="cost-group">
          <option v-for="g in GROUPS" :key="g[0]" :value="g[0]">{{ g[1] }}</option></select></label>
        <label class="small">From <input type="date" v-model="from" @change="load"></label>
        <label class="small">To <input type="date" v-model="to" @change="load"></label>
      </div>
      <div class="table-wrap" v-if="report">
        <table class="table" data-testid="cost-report">
          <thead><tr><th>{{ GROUPS.find(g => g[0] === groupBy)[1] }}</th><th>Calls</th><th>Input</th><th>Output</th><th>Cached</th><th>Cost</th></tr></thead>
          <tbody>
            <tr v-for="i in report.items" :key="i[groupBy]"><td>{{ label(i) }} <span class="muted small" v-if="i.unpriced" :title="'No price for ' + i.unpricedModels.join(', ')">unpriced</span></td>
              <td>{{ i.calls }}</td><td>{{ i.inputTokens }}</td><td>{{ i.outputTokens }}</td><td>{{ i.cachedTokens }}</td><td>{{ money(i.cost, report.currency) }}</td></tr>
            <tr v-if="!report.items.length"><td colspan="6" class="muted">No model calls in this range.</td></tr>
          </tbody>
        </table>
      </div>
    </section>
    <section class="panel" v-if="table">
      <div class="panel-head"><h2>Prices <span class="muted small">per 1M tokens{{ table.defaults ? ' · shipped defaults' : '' }}</span></h2>
        <button class="btn ghost sm" type="button" @click="resetPrices" data-testid="price-reset"><Icon name="refresh" :size="14"/> Defaults</button></div>
      <p class="muted small">A model is priced by its exact name or the longest listed prefix (<code>gpt-4o</code> prices <code>gpt-4o-2024-08-06</code>). Models with no price (local ones) count as 0 and are marked unpriced.</p>
      <form class="form" @submit.prevent="savePrices" data-testid="price-editor">
        <div class="field"><label for="price-currency">Currency</label><input id="price-currency" v-model="table.currency" maxlength="8" style="max-width:8em" data-testid="price-currency"></div>
        <div class="table-wrap"><table class="table">
          <thead><tr><th>Model</th><th>Input</th><th>Output</th><th>Cached input</th><th></th></tr></thead>
          <tbody>
            <tr v-for="(p, k) in table.prices" :key="k" :data-testid="'price-row-' + p.model">
              <td><input v-model="p.model" aria-label="Model" class="mono" data-testid="price-model"></td>
              <td><input v-model.number="p.input" type="number" step="any" min="0" aria-label="Input price" data-testid="price-input"></td>
              <td><input v-model.number="p.output" type="number" step="any" min="0" aria-label="Output price" data-testid="price-output"></td>
              <td><input v-model.number="p.cached" type="number" step="any" min="0" aria-label="Cached input price" placeholder="= input"></td>
              <td><button class="icon-btn" type="button" @click="table.prices.splice(k, 1)" :aria-label="'Remove ' + p.model"><Icon name="trash" :size="14"/></button></td></tr>
          </tbody></table></div>
        <p class="error-text" v-if="priceError" role="alert" data-testid="price-error">{{ priceError }}</p>
        <div class="row"><button class="btn ghost" type="button" @click="table.prices.push({model: '', input: 0, output: 0, cached: null})" data-testid="price-add"><Icon name="plus" :size="14"/> Add model</button>
          <button class="btn" type="submit" :disabled="saving" data-testid="price-save">Save prices</button></div>
      </form>
    </section>
    <section class="panel">
      <div class="panel-head"><h2>Budgets</h2></div>
      <p class="muted small">Set a budget on a client or an agent below, or as its <code>budget</code> in the Admin API. When it is spent, further turns are refused with <code>budget_exceeded</code> (HTTP 402) until the period resets or the budget is raised.</p>
      <table class="table" v-if="budgets.length" data-testid="budgets">
        <thead><tr><th>Who</th><th>Budget</th><th>Spent</th><th>Resets</th><th></th></tr></thead>
        <tbody><tr v-for="b in budgets" :key="b.scope + b.id" :data-testid="'budget-' + b.name"><td>{{ b.scope }} {{ b.name }}</td><td>{{ b.amount }} {{ b.currency }} / {{ b.period }}</td>
          <td :class="{'error-text': b.exceeded}">{{ b.spent }}{{ b.exceeded ? ' (spent)' : '' }}</td><td class="small muted">{{ b.resetsAt }}</td>
          <td><button class="icon-btn" type="button" @click="removeBudget(b)" :aria-label="'Remove the budget of ' + b.name"><Icon name="trash" :size="14"/></button></td></tr></tbody>
      </table>
      <p class="muted small" v-else>No budgets set.</p>
      <form class="row wrap" @submit.prevent="addBudget" data-testid="budget-form">
        <label class="small">For <select v-model="bf.target" required data-testid="budget-target">
          <option value="" disabled>client or agent…</option>
          <optgroup label="Clients"><option v-for="c in store.clients" :key="c.id" :value="'client:' + c.id">{{ c.name }}</option></optgroup>
          <optgroup label="Agents"><option v-for="a in store.agents" :key="a.id" :value="'agent:' + a.id">{{ a.name }}</option></optgroup></select></label>
        <label class="small">Amount <input type="number" step="any" min="0" v-model.number="bf.amount" required style="max-width:8em" data-testid="budget-amount"></label>
        <label class="small">Unit <select v-model="bf.unit" data-testid="budget-unit"><option value="cost">{{ table ? table.currency : 'cost' }}</option><option value="tokens">tokens</option></select></label>
        <label class="small">Per <select v-model="bf.period" data-testid="budget-period"><option value="day">day</option><option value="month">month</option></select></label>
        <button class="btn sm" type="submit" data-testid="budget-save">Set budget</button>
        <span class="error-text small" v-if="budgetError" role="alert" data-testid="budget-error">{{ budgetError }}</span>
      </form>
    </section>
  </div>`,
  setup() { return { GROUPS, money, store }; },
  async mounted() { await Promise.all([this.load(), this.loadPrices(), this.loadBudgets(), loadKind('clients'), loadKind('agents')]); },
  methods: {
    label(i) { const g = this.groupBy; return (i[`${g}Name`] || i[g] || '(none)'); },
    async load() {
      try { this.report = await api.get(`/costs?groupBy=${this.groupBy}&from=${this.from}&to=${this.to}`); this.error = ''; } catch (e) { this.error = e.message; }
    },
    async loadPrices() { try { this.table = await api.get('/costs/prices'); } catch (e) { this.error = e.message; } },
    async loadBudgets() { try { this.budgets = await api.get('/costs/budgets'); } catch (e) { this.error = e.message; } },
    async afterPrices(table, msg) {
      this.table = table; this.priceError = ''; toast.success(msg);
      await Promise.all([this.load(), this.loadBudgets(), this.$refs.chart?.refresh()]);
    },
    async savePrices() {
      this.saving = true; this.priceError = '';
      const prices = this.table.prices.map((p) => ({ model: p.model, input: p.input === '' ? 0 : p.input, output: p.output === '' ? 0 : p.output,
        ...(p.cached === '' || p.cached == null ? {} : { cached: p.cached }) }));
      try { await this.afterPrices(await api.put('/costs/prices', { currency: this.table.currency, prices }), 'Prices saved'); }
      catch (e) { this.priceError = e.message; } finally { this.saving = false; }
    },
    async resetPrices() {
      try { await this.afterPrices(await api.post('/costs/prices/reset'), 'Default prices restored'); } catch (e) { this.priceError = e.message; }
    },
    // A budget is a field of the client or agent: the whole resource is read and written back
    // (a PUT resets the fields it omits), without the client's token preview.
    async setBudget(scope, id, budget) {
      const path = `/${scope === 'client' ? 'clients' : 'agents'}/${id}`;
      const current = await api.get(path);
      delete current.token;
      await api.put(path, { ...current, budget });
      await Promise.all([this.loadBudgets(), loadKind(scope === 'client' ? 'clients' : 'agents')]);
    },
    async removeBudget(b) {
      try { await this.setBudget(b.scope, b.id, null); toast.success(`Budget of ${b.name} removed`); } catch (e) { toast.error(e); }
    },
    async addBudget() {
      this.budgetError = '';
      const [scope, id] = this.bf.target.split(':');
      try {
        await this.setBudget(scope, id, { amount: this.bf.amount, unit: this.bf.unit, period: this.bf.period });
        toast.success('Budget set');
      } catch (e) { this.budgetError = e.message; }
    },
    async exportCsv() {
      try {
        const res = await raw('GET', `/costs/export?groupBy=${this.groupBy}&from=${this.from}&to=${this.to}`);
        const url = URL.createObjectURL(await res.blob());
        const a = Object.assign(document.createElement('a'), { href: url, download: `magec-costs-${this.from}-${this.to}.csv` });
        document.body.appendChild(a); a.click(); a.remove(); setTimeout(() => URL.revokeObjectURL(url), 1000);
      } catch (e) { toast.error(e); }
    },
  },
};
