// Package modelfiletest writes model files (safetensors, GGUF, ONNX) from their format
// specifications, for tests: readers are checked against files laid out the way each format's
// own writers lay them out, not against the reader's idea of the format.
package modelfiletest
