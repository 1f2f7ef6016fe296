"use client";
import { Area, AreaChart, Bar, BarChart, CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import type { ActivityStats } from "./operations";

const COLORS = { allowed: "#10b981", blocked: "#ef4444", error: "#f59e0b" };

function tick(value: string, spanMs: number) {
  const d = new Date(value);
  return spanMs <= 2 * 86_400_000 ? d.toISOString().slice(11, 16) : d.toISOString().slice(5, 10);
}

export function ActivityCharts({ stats }: { stats: ActivityStats }) {
  const span = stats.series.length > 1 ? new Date(stats.series.at(-1)!.t).getTime() - new Date(stats.series[0]!.t).getTime() : 0;
  const hasLatency = stats.series.some((s) => s.p50 !== null);
  return (
    <div className="grid grid-cols-1 gap-4 lg:grid-cols-3">
      <figure className="rounded-lg bg-white p-4 ring-1 ring-zinc-200 lg:col-span-2">
        <figcaption className="mb-2 text-sm font-medium text-zinc-800">Calls over time, by verdict</figcaption>
        <div className="h-48" role="img" aria-label={`Calls over time: ${stats.totals.allowed} allowed, ${stats.totals.blocked} blocked, ${stats.totals.error} errors`}>
          <ResponsiveContainer width="100%" height="100%">
            <AreaChart data={stats.series} margin={{ left: -20, right: 8, top: 4 }}>
              <CartesianGrid strokeDasharray="3 3" stroke="#e4e4e7" vertical={false} />
              <XAxis dataKey="t" tickFormatter={(v) => tick(v, span)} tick={{ fontSize: 11, fill: "#71717a" }} minTickGap={24} />
              <YAxis allowDecimals={false} tick={{ fontSize: 11, fill: "#71717a" }} />
              <Tooltip labelFormatter={(v) => new Date(String(v)).toISOString().replace("T", " ").slice(0, 16) + " UTC"} />
              <Legend wrapperStyle={{ fontSize: 12 }} />
              {(["allowed", "blocked", "error"] as const).map((k) => (
                <Area key={k} type="monotone" dataKey={k} stackId="v" stroke={COLORS[k]} fill={COLORS[k]} fillOpacity={0.35} isAnimationActive={false} />
              ))}
            </AreaChart>
          </ResponsiveContainer>
        </div>
      </figure>
      <figure className="rounded-lg bg-white p-4 ring-1 ring-zinc-200">
        <figcaption className="mb-2 text-sm font-medium text-zinc-800">
          Latency of allowed calls (ms)
          {/* Percentiles come from hourly log-scale histograms (the rollups), not from every event. */}
          <span className="ml-1 text-xs font-normal text-zinc-500" title="p50/p95/p99 are read from a log-scale histogram whose buckets are 1.25x wide">
            ≈ ±{Math.round(stats.latencyError * 100)}%
          </span>
        </figcaption>
        <div className="h-48">
          {hasLatency ? (
            <ResponsiveContainer width="100%" height="100%">
              <LineChart data={stats.series} margin={{ left: -20, right: 8, top: 4 }}>
                <CartesianGrid strokeDasharray="3 3" stroke="#e4e4e7" vertical={false} />
                <XAxis dataKey="t" tickFormatter={(v) => tick(v, span)} tick={{ fontSize: 11, fill: "#71717a" }} minTickGap={24} />
                <YAxis tick={{ fontSize: 11, fill: "#71717a" }} />
                <Tooltip formatter={(v) => (typeof v === "number" ? `${v.toFixed(1)} ms (±${Math.round(stats.latencyError * 100)}%)` : "—")} labelFormatter={(v) => new Date(String(v)).toISOString().slice(0, 16).replace("T", " ")} />
                <Legend wrapperStyle={{ fontSize: 12 }} />
                <Line type="monotone" dataKey="p50" stroke="#6366f1" dot={{ r: 2 }} connectNulls isAnimationActive={false} />
                <Line type="monotone" dataKey="p95" stroke="#a855f7" dot={{ r: 2 }} connectNulls isAnimationActive={false} />
                <Line type="monotone" dataKey="p99" stroke="#ec4899" dot={{ r: 2 }} connectNulls isAnimationActive={false} />
              </LineChart>
            </ResponsiveContainer>
          ) : (
            <p className="flex h-full items-center justify-center text-sm text-zinc-400">No allowed calls in this range.</p>
          )}
        </div>
      </figure>
      <RankedBars title="Top blocked rules" rows={stats.topRules.map((r) => ({ label: r.rule, count: r.count }))} color="#ef4444" empty="Nothing was blocked in this range." />
      <RankedBars title="Top tables" rows={stats.topTables.map((r) => ({ label: r.table, count: r.count }))} color="#6366f1" empty="No table was touched in this range." />
    </div>
  );
}

function RankedBars({ title, rows, color, empty }: { title: string; rows: { label: string; count: number }[]; color: string; empty: string }) {
  return (
    <figure className="rounded-lg bg-white p-4 ring-1 ring-zinc-200 lg:col-span-1 [&:nth-child(3)]:lg:col-span-2">
      <figcaption className="mb-2 text-sm font-medium text-zinc-800">{title}</figcaption>
      <div className="h-44">
        {rows.length === 0 ? (
          <p className="flex h-full items-center justify-center text-sm text-zinc-400">{empty}</p>
        ) : (
          <ResponsiveContainer width="100%" height="100%">
            <BarChart data={rows} layout="vertical" margin={{ left: 8, right: 16 }}>
              <XAxis type="number" allowDecimals={false} tick={{ fontSize: 11, fill: "#71717a" }} />
              <YAxis type="category" dataKey="label" width={150} tick={{ fontSize: 11, fill: "#3f3f46" }} />
              <Tooltip />
              <Bar dataKey="count" fill={color} radius={[0, 3, 3, 0]} isAnimationActive={false} />
            </BarChart>
          </ResponsiveContainer>
        )}
      </div>
    </figure>
  );
}
