// Package yamldata reads YAML that is data, not a program: one document, no anchors or aliases,
// nesting bounded. A YAML alias is a pointer a naive walker follows again at every use, so a few
// kilobytes of nested aliases (a "billion laughs") cost gigabytes and minutes; a file a user
// writes by hand, or a model card from an image, never needs one.
package yamldata
