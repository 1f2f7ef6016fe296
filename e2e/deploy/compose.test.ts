import { describe, expect, it } from "vitest";
import { APP_ROLES, requiredVars, validateRoleEnv } from "./support/app-env.js";
import { composeConfig, composeSecrets, resolvedCompose, serviceEnv } from "./support/compose.js";

// docker-compose.yml, checked by Debian's docker-compose (`config` resolves and validates the file
// against the Compose schema) and by the apps' own environment parsers.
const secrets = composeSecrets();
const model = resolvedCompose(secrets);

describe("docker-compose.yml", () => {
  it("passes `docker-compose config`, and every required secret missing from .env stops it by name", () => {
    expect(composeConfig(secrets).status).toBe(0);
    for (const name of ["POSTGRES_PASSWORD", "METADATA_DB_PASSWORD", "REDIS_PASSWORD", "PORTCULLIS_SECRET_KEYS", "AUDIT_CHAIN_KEY", "NEXTAUTH_SECRET"]) {
      const { [name]: _dropped, ...rest } = secrets;
      const r = composeConfig(rest);
      expect(r.status, name).not.toBe(0);
      expect(r.stderr, name).toContain(`${name} is required`);
    }
  });

  it("runs PostgreSQL 15 and Redis on volumes, each with a health check", () => {
    const { postgres, redis } = model.services;
    expect(postgres?.image).toMatch(/^postgres:15(\b|-)/);
    expect(JSON.stringify(postgres?.healthcheck?.test)).toContain("pg_isready");
    expect(postgres?.volumes?.some((v) => JSON.stringify(v).includes("/var/lib/postgresql/data"))).toBe(true);
    expect(redis?.image).toMatch(/^redis:/);
    expect(JSON.stringify(redis?.healthcheck?.test)).toContain("redis-cli");
    expect(redis?.volumes?.some((v) => JSON.stringify(v).includes("/data"))).toBe(true);
    for (const volume of ["postgres-data", "redis-data", "gateway-spool"]) expect(Object.keys(model.volumes ?? {})).toContain(volume);
  });

  it("runs `migrate` once, and web, gateway and worker start only after it succeeded", () => {
    expect(model.services.migrate?.command).toEqual(["migrate"]);
    expect(model.services.migrate?.restart).toBe("no");
    expect(model.services.migrate?.depends_on?.postgres?.condition).toBe("service_healthy");
    for (const role of APP_ROLES) {
      const service = model.services[role]!;
      expect(service.command, role).toEqual([role]);
      expect(service.depends_on?.migrate?.condition, role).toBe("service_completed_successfully");
      expect(service.depends_on?.redis?.condition, role).toBe("service_healthy");
      expect(service.healthcheck?.test, role).toEqual(["CMD", "/app/scripts/docker-entrypoint.sh", "healthcheck", role]);
      expect(service.read_only, role).toBe(true);
    }
    // The gateway's audit journal outlives the container.
    expect(model.services.gateway?.volumes?.some((v) => JSON.stringify(v).includes("/var/lib/portcullis/spool"))).toBe(true);
  });

  it("publishes ports for the dashboard and the gateway only (the dashboard on loopback by default)", () => {
    const published = Object.entries(model.services)
      .filter(([, s]) => (s.ports ?? []).length > 0)
      .map(([name]) => name)
      .sort();
    expect(published).toEqual(["gateway", "web"]);
    expect(JSON.stringify(model.services.web?.ports)).toContain("127.0.0.1");
  });

  it("gives each app every variable its schema requires, and values its own parser accepts", () => {
    for (const role of [...APP_ROLES, "migrate"] as const) {
      const env = serviceEnv(model.services[role]!);
      const required = requiredVars(role);
      expect(required.length, role).toBeGreaterThan(0);
      for (const name of required) expect(env[name], `${role}: ${name}`).toBeTruthy();
      expect(() => validateRoleEnv(role, env), role).not.toThrow();
    }
    // The apps connect as their own role, never as the superuser the demo seed uses.
    expect(serviceEnv(model.services.gateway!).DATABASE_URL).toMatch(/^postgresql:\/\/portcullis_app:/);
    // The dashboard reaches the Playground listener on the compose network, with the same token.
    expect(serviceEnv(model.services.web!).GATEWAY_INTERNAL_URL).toBe("http://gateway:3003");
    expect(serviceEnv(model.services.web!).GATEWAY_INTERNAL_TOKEN).toBe(serviceEnv(model.services.gateway!).GATEWAY_INTERNAL_TOKEN);
    // The health banner reads the gateway's /readyz on the compose network: the public URL is the
    // outside's name for it, which a container may not resolve.
    expect(serviceEnv(model.services.web!).GATEWAY_HEALTH_URL).toBe("http://gateway:3001");
  });

  it("hands the OpenTelemetry settings to the gateway and the worker, and gives file audit sinks a volume", () => {
    for (const name of ["gateway", "worker"]) {
      const env = serviceEnv(model.services[name]!);
      for (const key of ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_SAMPLER"]) expect(env, `${name} ${key}`).toHaveProperty(key);
    }
    expect(serviceEnv(model.services.gateway!)).toHaveProperty("PORTCULLIS_SQLCOMMENTER");
    const worker = model.services.worker!;
    expect(serviceEnv(worker).AUDIT_EXPORT_DIR).toBe("/var/lib/portcullis/audit-export");
    expect(JSON.stringify(worker.volumes)).toContain("/var/lib/portcullis/audit-export");
  });

  it("keeps the demo seed behind the `demo` profile, with the superuser URL only there", () => {
    // `up` leaves a profiled service out unless its profile is asked for.
    const seed = model.services["seed-demo"]!;
    expect(seed.profiles).toEqual(["demo"]);
    expect(seed.command).toEqual(["seed-demo"]);
    expect(seed.depends_on?.migrate?.condition).toBe("service_completed_successfully");
    expect(serviceEnv(seed).DEMO_TARGET_ADMIN_URL).toMatch(/^postgresql:\/\/postgres:/);
    for (const [name, service] of Object.entries(model.services)) {
      if (name !== "seed-demo" && name !== "postgres") expect(JSON.stringify(service.environment ?? {}), name).not.toContain(secrets.POSTGRES_PASSWORD);
    }
  });
});
