// Package modelmanifest reads the model-manifest input: the models an image ships or calls and
// the data sets they were trained on, decoded strictly, with every problem reported at once as
// a FieldError naming the field, file and line.
package modelmanifest
