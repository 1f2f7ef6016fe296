import { chartObjects, podTemplate, probePort, type Container } from "./chart.js";

/** What a readiness or liveness check asks of an app: an HTTP path or an open port. */
export interface ProbeSpec {
  source: string;
  role: string;
  kind: "http" | "tcp";
  port: number;
  path?: string;
}

const ROLE_OF_ARGS = new Set(["web", "gateway", "worker", "migrate"]);

export function containerRole(container: Container): string {
  const role = container.args?.[0];
  if (!role || !ROLE_OF_ARGS.has(role)) throw new Error(`container ${container.name} runs no known role (args ${JSON.stringify(container.args)})`);
  return role;
}

/** Every probe of every Deployment in the chart, with the port resolved to a number. */
export function chartProbes(): ProbeSpec[] {
  const out: ProbeSpec[] = [];
  for (const obj of chartObjects().filter((o) => o.kind === "Deployment")) {
    for (const container of podTemplate(obj).spec?.containers ?? []) {
      const role = containerRole(container);
      for (const kind of ["readinessProbe", "livenessProbe", "startupProbe"] as const) {
        const probe = container[kind];
        if (!probe) continue;
        const source = `${obj.file} ${container.name}.${kind}`;
        if (probe.httpGet) out.push({ source, role, kind: "http", port: probePort(container, probe.httpGet.port), path: probe.httpGet.path });
        else if (probe.tcpSocket) out.push({ source, role, kind: "tcp", port: probePort(container, probe.tcpSocket.port) });
        else throw new Error(`${source}: neither httpGet nor tcpSocket`);
      }
    }
  }
  return out;
}
