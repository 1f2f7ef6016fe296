import { Server, type ServerOptions } from "@modelcontextprotocol/server";
import { serveStdio } from "@modelcontextprotocol/server/stdio";
import type { Services } from "../services.js";
import { DispatchTransport } from "./dispatch-transport.js";
import { GENERIC_INSTRUCTIONS, SERVER_INFO, registerHandlers, registerLegacyInitialize } from "./handlers.js";

export const MODERN_VERSION = "2026-07-28";
export const LEGACY_VERSIONS = ["2025-11-25", "2025-06-18", "2025-03-26"] as const;

/** The two long-lived SDK instances of the process, reached through their dispatch transports. */
export interface McpServers {
  modern: DispatchTransport;
  legacy: DispatchTransport;
  /** Resolves once the modern instance is pinned to 2026-07-28 (before the gateway listens). */
  ready: Promise<void>;
  close(): Promise<void>;
}

// Cache hints only reach 2026-07-28 replies (the SDK leaves 2025 results alone). Everything is private:
// tool lists and resources are per link, behind a credential.
const CACHE_HINTS: ServerOptions["cacheHints"] = {
  "server/discover": { ttlMs: 300_000, cacheScope: "private" },
  "tools/list": { ttlMs: 60_000, cacheScope: "private" },
  "resources/list": { ttlMs: 300_000, cacheScope: "private" },
  "resources/templates/list": { ttlMs: 300_000, cacheScope: "private" },
  "resources/read": { ttlMs: 300_000, cacheScope: "private" },
};

function buildServer(services: Services, wire: DispatchTransport): Server {
  const server = new Server(SERVER_INFO, {
    capabilities: { tools: { listChanged: false }, resources: {} },
    instructions: GENERIC_INSTRUCTIONS,
    cacheHints: CACHE_HINTS,
  });
  registerHandlers(server, services, (ctx) => wire.contextOf(ctx.mcpReq.id));
  return server;
}

const BOOT_META = {
  "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
  "io.modelcontextprotocol/clientInfo": { name: "portcullis-boot", version: "0" },
  "io.modelcontextprotocol/clientCapabilities": {},
};

/**
 * Modern: `serveStdio` with our own transport pins ONE instance to 2026-07-28 on the first enveloped
 * request — the only public way to get a long-lived modern instance (createMcpHandler builds one per
 * HTTP request: +280–400 µs per call measured, design §1.4). The pin is made here, at boot, by a
 * request without a caller (answered with an error nobody reads), so no client's request pins it.
 * Legacy: a plain connection, 2025 era, with our own `initialize`.
 */
export function createMcpServers(services: Services): McpServers {
  const modern = new DispatchTransport();
  serveStdio(() => buildServer(services, modern), {
    transport: modern,
    legacy: "reject",
    onerror: (error) => services.logger.debug({ err: error.message }, "modern MCP instance error"),
  });
  const legacy = new DispatchTransport();
  const legacyServer = buildServer(services, legacy);
  registerLegacyInitialize(legacyServer, (ctx) => legacy.contextOf(ctx.mcpReq.id), LEGACY_VERSIONS);
  const ready = (async () => {
    await legacyServer.connect(legacy);
    await modern.started;
    await modern.request({ jsonrpc: "2.0", id: 0, method: "tools/list", params: { _meta: BOOT_META } }, undefined as never).response;
  })();
  return {
    modern,
    legacy,
    ready,
    async close() {
      await Promise.all([modern.close(), legacyServer.close()]);
    },
  };
}
