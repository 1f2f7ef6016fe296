import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { APP_ROLES, requiredVars, validateRoleEnv, type Role } from "./support/app-env.js";
import { chartObjects, lookup, podTemplate, readTemplate, templateFiles, valueLeaves, valueReferences, values, type K8sObject } from "./support/chart.js";
import { composeSecrets } from "./support/compose.js";
import { CHART, ROOT } from "./support/paths.js";
import { chartProbes, containerRole } from "./support/probes.js";
import { parseYaml } from "./support/yaml.js";

// deploy/helm/portcullis without a helm binary: references, structure, selectors, probes and the
// environment each container gets (checked with the apps' own parsers).
const objects = chartObjects();
const byKind = (kind: string) => objects.filter((o) => o.kind === kind);
const subset = (small: Record<string, string> | undefined, big: Record<string, string> | undefined) =>
  Object.keys(small ?? {}).length > 0 && Object.entries(small ?? {}).every(([k, v]) => big?.[k] === v);

describe("Helm chart deploy/helm/portcullis", () => {
  it("has a v2 Chart.yaml and templates for every part the deployment needs", () => {
    const chart = parseYaml(readFileSync(path.join(CHART, "Chart.yaml"), "utf8")) as Record<string, string>;
    expect(chart.apiVersion).toBe("v2");
    expect(chart.name).toBe("portcullis");
    expect(chart.version).toMatch(/^\d+\.\d+\.\d+/);
    const kinds = objects.map((o) => `${o.kind}/${o.file}`);
    for (const want of ["Deployment/gateway-deployment.yaml", "Deployment/worker-deployment.yaml", "Deployment/web-deployment.yaml", "Service/gateway-service.yaml", "Service/web-service.yaml", "PodDisruptionBudget/gateway-pdb.yaml", "Job/migrate-job.yaml", "Secret/secret.yaml", "ConfigMap/configmap.yaml"]) {
      expect(kinds).toContain(want);
    }
  });

  it("references only values that exist in values.yaml, and every value is referenced", () => {
    const refs = valueReferences();
    expect(refs.length).toBeGreaterThan(40);
    for (const ref of refs) expect(lookup(values, ref.path).found, `${ref.file}: .Values.${ref.path.join(".")}`).toBe(true);
    const named = new Set(refs.map((r) => r.path.join(".")));
    for (const leaf of valueLeaves()) {
      const covered = leaf.some((_, i) => named.has(leaf.slice(0, i + 1).join(".")));
      expect(covered, `values.yaml ${leaf.join(".")} is used by no template`).toBe(true);
    }
  });

  it("declares apiVersion, kind and metadata.name on every object", () => {
    expect(objects.length).toBeGreaterThanOrEqual(12);
    for (const o of objects) {
      expect(o.apiVersion, o.file).toMatch(/^(v1|apps\/v1|batch\/v1|policy\/v1|networking\.k8s\.io\/v1)$/);
      expect(o.kind, o.file).toBeTruthy();
      expect(o.metadata?.name, o.file).toBeTruthy();
    }
  });

  it("selects each Deployment's own pods, and every Service and the PDB select pods that exist", () => {
    const deployments = byKind("Deployment");
    for (const d of deployments) {
      const selector = (d.spec?.selector as { matchLabels?: Record<string, string> })?.matchLabels;
      expect(subset(selector, podTemplate(d).metadata?.labels), d.file).toBe(true);
    }
    const podsOf = (selector: Record<string, string> | undefined) => deployments.filter((d) => subset(selector, podTemplate(d).metadata?.labels));
    // Selectors differ per component: no Service or PDB selects two Deployments' pods.
    for (const s of byKind("Service")) {
      const targets = podsOf(s.spec?.selector as Record<string, string>);
      expect(targets.map((d) => d.file), `${s.file} ${s.metadata?.name}`).toHaveLength(1);
      const portNames = new Set((podTemplate(targets[0]!).spec?.containers ?? []).flatMap((c) => (c.ports ?? []).map((p) => p.name)));
      for (const p of (s.spec?.ports as Array<{ targetPort: string }>) ?? []) expect(portNames.has(p.targetPort), `${s.file} ${p.targetPort}`).toBe(true);
    }
    const pdb = byKind("PodDisruptionBudget")[0]!;
    expect(pdb.apiVersion).toBe("policy/v1");
    expect(podsOf((pdb.spec?.selector as { matchLabels: Record<string, string> }).matchLabels).map((d) => d.file)).toEqual(["gateway-deployment.yaml"]);
    expect(Number(pdb.spec?.minAvailable)).toBeGreaterThanOrEqual(1);
    expect(Number(values.gateway && (values.gateway as { replicaCount: number }).replicaCount)).toBeGreaterThan(Number(pdb.spec?.minAvailable));
  });

  it("gives the gateway and the worker readiness and liveness probes on endpoints they serve", () => {
    const served: Record<string, Array<[string, number]>> = {
      gateway: [["/readyz", Number(lookup(values, ["gateway", "port"]).value)], ["/healthz", Number(lookup(values, ["gateway", "port"]).value)]],
      worker: [["/readyz", Number(lookup(values, ["worker", "metricsPort"]).value)], ["/healthz", Number(lookup(values, ["worker", "metricsPort"]).value)]],
      web: [["/api/health", Number(lookup(values, ["web", "port"]).value)]],
    };
    for (const d of byKind("Deployment")) {
      const [container] = podTemplate(d).spec?.containers ?? [];
      expect(container?.readinessProbe, d.file).toBeDefined();
      expect(container?.livenessProbe, d.file).toBeDefined();
    }
    const probes = chartProbes();
    for (const role of ["gateway", "worker"]) {
      const own = probes.filter((p) => p.role === role);
      expect(own.filter((p) => p.kind === "http").map((p) => p.path).sort(), role).toEqual(["/healthz", "/healthz", "/readyz"]);
    }
    // (That the apps answer these is entrypoint.int.test.ts's part: it starts them and asks.)
    for (const p of probes.filter((x) => x.kind === "http")) {
      expect(served[p.role]?.some(([pathname, port]) => pathname === p.path && port === p.port), `${p.source} ${p.path}:${p.port}`).toBe(true);
    }
  });

  it("runs non-root with a read-only root filesystem, writing only to mounted volumes", () => {
    expect(lookup(values, ["podSecurityContext", "runAsNonRoot"]).value).toBe(true);
    // The image's USER (Dockerfile) is the same uid.
    expect(readFileSync(path.join(ROOT, "Dockerfile"), "utf8")).toMatch(new RegExp(`^USER ${String(lookup(values, ["podSecurityContext", "runAsUser"]).value)}:`, "m"));
    expect(lookup(values, ["securityContext", "readOnlyRootFilesystem"]).value).toBe(true);
    expect(lookup(values, ["securityContext", "allowPrivilegeEscalation"]).value).toBe(false);
    for (const file of ["gateway-deployment.yaml", "worker-deployment.yaml", "web-deployment.yaml", "migrate-job.yaml"]) {
      const text = readTemplate(file);
      expect(text, file).toContain("toYaml .Values.securityContext | nindent 12");
      expect(text, file).toContain("toYaml .Values.podSecurityContext | nindent 8");
      expect(text, file).toMatch(/mountPath: \/tmp\b/);
    }
    expect(readTemplate("gateway-deployment.yaml")).toContain("mountPath: /var/lib/portcullis/spool");
    expect(readTemplate("web-deployment.yaml")).toContain("mountPath: /app/apps/web/.next/cache");
  });

  it("migrates in a pre-install/pre-upgrade hook Job that runs after the hooked ConfigMap and Secret exist", () => {
    const job = byKind("Job")[0]!;
    const weight = (o: K8sObject) => Number(o.metadata?.annotations?.["helm.sh/hook-weight"] ?? 0);
    expect(job.metadata?.annotations?.["helm.sh/hook"]).toBe("pre-install,pre-upgrade");
    const [container] = podTemplate(job).spec?.containers ?? [];
    expect(container?.args).toEqual(["migrate"]);
    expect(podTemplate(job).spec?.restartPolicy).toBe("Never");
    for (const dep of [...byKind("ConfigMap"), ...byKind("Secret")]) {
      expect(dep.metadata?.annotations?.["helm.sh/hook"], dep.file).toBe("pre-install,pre-upgrade");
      expect(weight(dep), dep.file).toBeLessThan(weight(job));
    }
  });

  it("gives every container each variable its app requires, in values its own parser accepts", () => {
    const configMap = byKind("ConfigMap")[0]!;
    const secret = byKind("Secret")[0]!;
    const secretKeys = Object.keys(secret.stringData ?? {});
    // The keys an existingSecret must hold are the ones values.yaml documents.
    const documented = [...readFileSync(path.join(CHART, "values.yaml"), "utf8").matchAll(/^#\s{3}([A-Z][A-Z0-9_]+)\s/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual([...secretKeys].sort());
    const secrets = composeSecrets();
    const secretValues: Record<string, string> = {
      DATABASE_URL: "postgresql://portcullis_app:pw@db.internal:5432/portcullis",
      REDIS_URL: "redis://:pw@redis.internal:6379",
      PORTCULLIS_SECRET_KEYS: secrets.PORTCULLIS_SECRET_KEYS!,
      AUDIT_CHAIN_KEY: secrets.AUDIT_CHAIN_KEY!,
      NEXTAUTH_SECRET: secrets.NEXTAUTH_SECRET!,
      GATEWAY_INTERNAL_TOKEN: secrets.GATEWAY_INTERNAL_TOKEN!,
    };
    const workloads = [...byKind("Deployment"), ...byKind("Job")];
    const roles = new Set<string>();
    for (const w of workloads) {
      for (const container of podTemplate(w).spec?.containers ?? []) {
        const role = containerRole(container) as Role;
        roles.add(role);
        const env: Record<string, string> = {};
        for (const from of container.envFrom ?? []) {
          if (from.configMapRef) {
            expect(from.configMapRef.name, w.file).toBe(configMap.metadata?.name);
            Object.assign(env, configMap.data);
          }
          if (from.secretRef) for (const key of secretKeys) env[key] = secretValues[key] ?? "";
        }
        for (const e of container.env ?? []) env[e.name] = String(e.value ?? "");
        for (const name of requiredVars(role)) expect(env[name], `${w.file}: ${name}`).toBeTruthy();
        expect(() => validateRoleEnv(role, env), w.file).not.toThrow();
      }
    }
    expect([...roles].sort()).toEqual([...APP_ROLES, "migrate"].sort());
  });

  it("points the dashboard's health check at the gateway's Service, not at the public URL", () => {
    const web = byKind("Deployment").find((d) => d.file === "web-deployment.yaml")!;
    const service = byKind("Service").find((s) => s.metadata?.name?.endsWith("-gateway"))!;
    const ports = service.spec?.ports as Array<{ port: number }>;
    const env = Object.fromEntries((podTemplate(web).spec?.containers?.[0]?.env ?? []).map((e) => [e.name, String(e.value ?? "")]));
    expect(env.GATEWAY_HEALTH_URL).toBe(`http://${service.metadata?.name}:${ports[0]!.port}`);
  });

  it("lets only the dashboard's pods reach the gateway's internal (Playground) port", () => {
    const policy = byKind("NetworkPolicy")[0]!;
    const rules = policy.spec?.ingress as Array<{ from?: Array<{ podSelector: { matchLabels: Record<string, string> } }>; ports: Array<{ port: string }> }>;
    const internal = rules.filter((r) => r.ports.some((p) => p.port === "internal"));
    expect(internal).toHaveLength(1);
    const web = byKind("Deployment").find((d) => d.file === "web-deployment.yaml")!;
    expect(internal[0]!.from?.every((f) => subset(f.podSelector.matchLabels, podTemplate(web).metadata?.labels))).toBe(true);
    expect(internal[0]!.from?.length).toBe(1);
    // No rule without `from` opens the internal port.
    expect(rules.filter((r) => !r.from).flatMap((r) => r.ports.map((p) => p.port))).toEqual(["http"]);
    expect(templateFiles()).toContain("networkpolicy.yaml");
  });
});
