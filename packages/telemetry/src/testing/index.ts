export { startOtlpReceiver, type AttributeValue, type OtlpReceiver, type ReceivedPoint, type ReceivedSpan } from "./otlp-receiver.js";
