/**
 * The producer helpers now live in the contracts package (`@portcullis/jobs`), which the dashboard,
 * the gateway and the worker all import; re-exported here for the worker's own callers.
 */
export {
  countDeadLetters,
  enqueueDescriptions,
  enqueueIntrospection,
  getDescriptionsStatus,
  listDeadLetters,
  replayDeadLetters,
  type DeadLetter,
  type DescriptionsProgress,
  type DescriptionsStatus,
} from "@portcullis/jobs";
