// Package ship is per-task upload, the default mode (logs.upload = "task"):
// it stores one claimed spool entry as one object, keyed by the run's
// namespace, ID and run (Key), with the run's figures as object metadata,
// and removes the entry from the spool once the object is stored. It also
// finds the runs of an ID, in the spool and among stored keys (Runs,
// RecentRuns, IDsUnder).
//
// It does not retry: brisk-logd's retrier (logs/retrier) decides when an
// entry is shipped again. Where objects go is logs/store; batch mode, one
// object per node and interval, is logs/batch.
package ship
