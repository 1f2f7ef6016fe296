/**
 * What the real-client suite asks of every client, whatever its shape (an SDK object, a stdio proxy,
 * a CLI run once per call): list the tools, call one, and show the result as the client got it.
 */
export interface ToolCallSeen {
  isError: boolean;
  /** The text blocks, joined. */
  text: string;
  structuredContent: Record<string, unknown> | undefined;
}

export interface ClientUnderTest {
  /** Which client and mode, for messages. */
  readonly label: string;
  /** The revision this client in this mode should end up speaking with the gateway. */
  readonly expectedRevision: string;
  listTools(): Promise<string[]>;
  callTool(name: string, args: Record<string, unknown>): Promise<ToolCallSeen>;
  /**
   * What the client shows for a call once its credential is revoked: the error it surfaces. Clients
   * that react to a 401 by starting a sign-in (mcp-remote) say so in their own way.
   */
  callAfterRevocation?(name: string, args: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

export function seenResult(result: unknown): ToolCallSeen {
  const r = result as { isError?: boolean; content?: { type: string; text?: string }[]; structuredContent?: Record<string, unknown> };
  return {
    isError: r.isError === true,
    text: (r.content ?? []).map((c) => c.text ?? "").join("\n"),
    structuredContent: r.structuredContent,
  };
}
