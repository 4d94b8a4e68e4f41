package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RequestedAtAnnotation asks for an immediate rescan when set to a new value; the handled
// value is echoed in status.lastHandledRequestedAt (like Flux's reconcile.fluxcd.io/requestedAt).
const RequestedAtAnnotation = "images.imagewatcher.dev/requestedAt"

// WatchedImageSpec names an image repository, the tag running today and an upgrade policy.
type WatchedImageSpec struct {
	// Image is the repository to watch, without tag or digest. Docker Hub short names are
	// allowed: "nginx" means index.docker.io/library/nginx.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="!self.contains('@')",message="image must not contain a digest: give the repository only, e.g. mojaloop/central-ledger"
	// +kubebuilder:validation:XValidation:rule="!self.matches(':[^/]*$')",message="image must not contain a tag: give the repository only and put the tag in currentTag"
	// +kubebuilder:validation:XValidation:rule="!self.contains(' ')",message="image must not contain spaces"
	Image string `json:"image"`

	// CurrentTag is the tag running today; newer versions are measured from it.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^v?[0-9]+(\\\\.[0-9]+){0,3}(-[0-9A-Za-z.-]+)?(\\\\+[0-9A-Za-z.-]+)?$')",message="currentTag must be a version such as v11.0.0, 1.25.3-alpine or v11.0.0-patch.1; tags like latest cannot be compared"
	CurrentTag string `json:"currentTag"`

	// Strategy is how far an upgrade may go: patch (hotfix builds of the same release),
	// bugfix (same MAJOR.MINOR), minor (same MAJOR) or major (anything).
	// +kubebuilder:validation:Enum=patch;bugfix;minor;major
	// +kubebuilder:default=bugfix
	// +optional
	Strategy string `json:"strategy,omitempty"`

	// Interval is how often the registry's tags are listed (minimum 1m).
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m')",message="interval must be at least 1m"
	// +kubebuilder:default="15m"
	// +optional
	Interval metav1.Duration `json:"interval,omitzero"`

	// Constraint is an optional semver range (e.g. "<13", "~11.4") applied on top of the
	// strategy to the MAJOR.MINOR.BUGFIX of each candidate.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Constraint string `json:"constraint,omitempty"`

	// TagFilter optionally restricts candidates by regular expressions over the raw tag.
	// +optional
	TagFilter *TagFilter `json:"tagFilter,omitempty"`

	// SecretRef names a kubernetes.io/dockerconfigjson Secret in this namespace holding
	// credentials for the registry.
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`

	// ServiceAccountName names a ServiceAccount in this namespace whose imagePullSecrets
	// hold credentials for the registry.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// CertSecretRef names a Secret in this namespace with a ca.crt for a registry whose
	// certificate is signed by a private CA.
	// +optional
	CertSecretRef *LocalObjectReference `json:"certSecretRef,omitempty"`

	// Insecure allows a plain-HTTP registry.
	// +optional
	Insecure bool `json:"insecure,omitempty"`

	// Suspend stops scanning; the last result stays in status. Un-suspending rescans at once.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// TagFilter restricts candidate tags by regular expressions (RE2 syntax) over the raw tag.
type TagFilter struct {
	// Include keeps only tags that match.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Include string `json:"include,omitempty"`

	// Exclude drops tags that match.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Exclude string `json:"exclude,omitempty"`
}

// LocalObjectReference names an object in the WatchedImage's namespace.
type LocalObjectReference struct {
	// Name of the object.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// LatestTags is the newest eligible tag for every strategy at once.
type LatestTags struct {
	// Patch is the newest hotfix build or revision of currentTag's release.
	Patch string `json:"patch,omitempty"`
	// Bugfix is the newest version with currentTag's MAJOR.MINOR.
	Bugfix string `json:"bugfix,omitempty"`
	// Minor is the newest version with currentTag's MAJOR.
	Minor string `json:"minor,omitempty"`
	// Major is the newest version.
	Major string `json:"major,omitempty"`
}

// WatchedImageStatus is the result of the last successful scan and the state of the
// resource. A failed scan leaves latest*, tagCount and lastScanTime as they were.
type WatchedImageStatus struct {
	// ObservedGeneration is the generation of the spec this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// LatestTag is the newest eligible tag for spec.strategy (currentTag when none is newer).
	// +optional
	LatestTag string `json:"latestTag,omitempty"`

	// LatestImage is the full reference of latestTag, ready to pull.
	// +optional
	LatestImage string `json:"latestImage,omitempty"`

	// UpgradeAvailable is true when latestTag is newer than currentTag.
	// +optional
	UpgradeAvailable bool `json:"upgradeAvailable,omitempty"`

	// Latest is the newest eligible tag for every strategy.
	// +optional
	Latest *LatestTags `json:"latest,omitempty"`

	// TagCount is the number of tags seen in the last successful scan.
	// +optional
	TagCount int `json:"tagCount,omitempty"`

	// LastScanTime is when the registry was last listed successfully.
	// +optional
	LastScanTime *metav1.Time `json:"lastScanTime,omitempty"`

	// LastHandledRequestedAt echoes the last handled images.imagewatcher.dev/requestedAt value.
	// +optional
	LastHandledRequestedAt string `json:"lastHandledRequestedAt,omitempty"`

	// Conditions: Ready, Reconciling and Stalled, in the kstatus conventions.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// WatchedImage tells which newer version of a container image a team may upgrade to.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=wi,categories=imagewatcher
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=`.spec.image`
// +kubebuilder:printcolumn:name="Current",type=string,JSONPath=`.spec.currentTag`
// +kubebuilder:printcolumn:name="Strategy",type=string,JSONPath=`.spec.strategy`
// +kubebuilder:printcolumn:name="Latest",type=string,JSONPath=`.status.latestTag`
// +kubebuilder:printcolumn:name="Upgrade",type=boolean,JSONPath=`.status.upgradeAvailable`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Last Scan",type=date,JSONPath=`.status.lastScanTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type WatchedImage struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   WatchedImageSpec   `json:"spec,omitempty"`
	Status WatchedImageStatus `json:"status,omitempty"`
}

// WatchedImageList is a list of WatchedImages.
// +kubebuilder:object:root=true
type WatchedImageList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []WatchedImage `json:"items"`
}
