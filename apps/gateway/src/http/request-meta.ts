/** What the router knows about every request before any route runs. */
export interface RequestMeta {
  requestId: string;
  sourceIp: string | null;
}
