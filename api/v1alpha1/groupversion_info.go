// Package v1alpha1 holds the WatchedImage API, group images.imagewatcher.dev.
// +kubebuilder:object:generate=true
// +groupName=images.imagewatcher.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every type in this package.
	GroupVersion = schema.GroupVersion{Group: "images.imagewatcher.dev", Version: "v1alpha1"}

	// SchemeBuilder registers this package's types with a runtime.Scheme. It is
	// apimachinery's, not controller-runtime's (deprecated) builder, so importing the API
	// package pulls in no controller-runtime.
	SchemeBuilder = runtime.NewSchemeBuilder(func(s *runtime.Scheme) error {
		s.AddKnownTypes(GroupVersion, &WatchedImage{}, &WatchedImageList{})
		metav1.AddToGroupVersion(s, GroupVersion)
		return nil
	})

	// AddToScheme adds this package's types to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
