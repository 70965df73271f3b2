import Torch

// The Torch module also declares an enum named Torch, so `Torch.DType` does not name the module's
// type; files that import SafeTensors too (which has its own DType) use this alias.
public typealias TensorDType = DType
