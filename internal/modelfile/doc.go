// Package modelfile reads what model files say about their model — safetensors, GGUF and ONNX
// headers, a Hugging Face config.json and model card — choosing the reader by file name, and
// with every length and count a file claims checked before it is used.
package modelfile
