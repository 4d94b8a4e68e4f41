package v1alpha1

// Condition types, in the kstatus conventions: Ready is the summary; Reconciling is True
// while a scan is under way or pending; Stalled is True when the spec cannot work until it
// changes.
const (
	// ReadyCondition is True when the last scan succeeded and status is current.
	ReadyCondition = "Ready"
	// ReconcilingCondition is True while the controller is working towards Ready.
	ReconcilingCondition = "Reconciling"
	// StalledCondition is True when no progress is possible until the spec changes.
	StalledCondition = "Stalled"
)

// Reasons for the conditions. Every reason a user can see has a doc comment saying what to do.
const (
	// SucceededReason: the last scan succeeded and status holds its result.
	SucceededReason = "Succeeded"
	// ProgressingReason: a scan is due or under way.
	ProgressingReason = "Progressing"
	// SuspendedReason: spec.suspend is true; nothing is scanned until it is cleared.
	SuspendedReason = "Suspended"
	// InvalidSpecReason: the spec cannot work (a regexp or constraint that does not compile,
	// an image reference that does not parse). Fix the spec; it is not retried until then.
	InvalidSpecReason = "InvalidSpec"
	// NotFoundReason: the registry does not know the repository. Check spec.image.
	NotFoundReason = "NotFound"
	// UnauthorizedReason: the registry refused the credentials (or asked for some). Check
	// spec.secretRef, spec.serviceAccountName or the controller's docker config.
	UnauthorizedReason = "Unauthorized"
	// RateLimitedReason: the registry answered 429; the controller waits as it asked.
	RateLimitedReason = "RateLimited"
	// RegistryErrorReason: the registry failed, was unreachable or timed out; retried with backoff.
	RegistryErrorReason = "RegistryError"
)
