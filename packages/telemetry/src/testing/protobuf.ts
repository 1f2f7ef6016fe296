/**
 * Just enough of the protobuf wire format to read OTLP export requests in tests: each message becomes a
 * map from field number to its raw values (varints as bigint, length-delimited as bytes, fixed as bytes).
 * Written here because the OTLP transformer packages only encode requests (and decode responses).
 */
export type WireValue = bigint | Uint8Array;
export type WireMessage = Map<number, WireValue[]>;

export function decodeMessage(bytes: Uint8Array): WireMessage {
  const fields: WireMessage = new Map();
  let at = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (at >= bytes.length) throw new Error("truncated varint");
      const byte = bytes[at++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (at < bytes.length) {
    const key = Number(varint());
    const field = key >>> 3;
    const wire = key & 7;
    let value: WireValue;
    if (wire === 0) value = varint();
    else if (wire === 1) value = bytes.subarray(at, (at += 8));
    else if (wire === 5) value = bytes.subarray(at, (at += 4));
    else if (wire === 2) {
      const length = Number(varint());
      value = bytes.subarray(at, (at += length));
    } else throw new Error(`unsupported wire type ${wire}`);
    if (at > bytes.length) throw new Error("truncated field");
    const list = fields.get(field);
    if (list) list.push(value);
    else fields.set(field, [value]);
  }
  return fields;
}

export const bytesOf = (m: WireMessage, field: number): Uint8Array[] => (m.get(field) ?? []).filter((v): v is Uint8Array => v instanceof Uint8Array);
export const messagesOf = (m: WireMessage, field: number): WireMessage[] => bytesOf(m, field).map(decodeMessage);
export const textOf = (m: WireMessage, field: number): string | undefined => {
  const raw = bytesOf(m, field)[0];
  return raw === undefined ? undefined : new TextDecoder().decode(raw);
};
export const hexOf = (m: WireMessage, field: number): string => Buffer.from(bytesOf(m, field)[0] ?? new Uint8Array()).toString("hex");
export const varintOf = (m: WireMessage, field: number): bigint | undefined => {
  const v = m.get(field)?.[0];
  return typeof v === "bigint" ? v : undefined;
};
export const fixed64Of = (m: WireMessage, field: number): bigint | undefined => {
  const raw = bytesOf(m, field)[0];
  return raw && raw.length === 8 ? Buffer.from(raw).readBigUInt64LE(0) : undefined;
};
