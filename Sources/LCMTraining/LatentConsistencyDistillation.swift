import DiffusionModels
import Schedulers
import Torch
import TorchNN

/// The LCD hyper-parameters of the step (the scripts' flags).
public struct LCDConfig: Sendable {
  public enum LossType: String, Sendable { case l2, huber }
  public var numDDIMTimesteps = 50
  public var timestepScalingFactor = 10.0
  public var wMin = 5.0
  public var wMax = 15.0
  public var lossType = LossType.l2
  public var huberC = 0.001
  public var emaDecay = 0.95
  /// --mixed_precision: the UNets run under torch.autocast with this dtype (nil: fp32). The
  /// student's output is cast back to fp32, as accelerate's prepared model returns it.
  public var autocast: DType? = nil
  /// false: the teacher runs outside autocast, in its weights' dtype (S4's rule for teachers named
  /// "playground", as an explicit flag here: --teacher_no_autocast).
  public var teacherAutocast = true
  public init() {}
}

/// One step's random draws: solver indices [B], noise like the latents, guidance scales w [B].
/// The trainer draws them (`draw`); tests pass them as data.
public struct LCDRandomness {
  public var index: Tensor
  public var noise: Tensor
  public var w: Tensor
  public init(index: Tensor, noise: Tensor, w: Tensor) {
    self.index = index
    self.noise = noise
    self.w = w
  }
}

/// The LCD step of the scripts, function for function, over a distillation method's roles:
/// online student prediction, teacher CFG (LCM form) + one DDIM step, target prediction, loss.
public final class LatentConsistencyDistillation {
  public let method: DistillationMethod
  public let noiseScheduler: DDPMScheduler
  public let solver: DDIMSolver
  public let alphaSchedule: Tensor
  public let sigmaSchedule: Tensor
  public let config: LCDConfig
  public let topk: Int

  public var teacher: UNet2DConditionModel { method.teacherUNet }
  public var student: UNet2DConditionModel { method.studentUNet }
  public var target: UNet2DConditionModel { method.targetUNet }

  public init(method: DistillationMethod, noiseScheduler: DDPMScheduler, config: LCDConfig, device: Device = .cpu) throws {
    self.method = method
    self.noiseScheduler = noiseScheduler
    self.config = config
    let T = noiseScheduler.config.numTrainTimesteps
    solver = try DDIMSolver(alphaCumprods: noiseScheduler.alphasCumprod, timesteps: T, ddimTimesteps: config.numDDIMTimesteps).to(device)
    let acp = try noiseScheduler.alphasCumprodTensor.to(device)
    alphaSchedule = try acp.sqrt()
    sigmaSchedule = try (1.0 - acp).sqrt()
    topk = T / config.numDDIMTimesteps
  }

  /// S1 over three UNets (the full-UNet method).
  public convenience init(
    teacher: UNet2DConditionModel, student: UNet2DConditionModel, target: UNet2DConditionModel,
    noiseScheduler: DDPMScheduler, config: LCDConfig, device: Device = .cpu
  ) throws {
    try self.init(
      method: try FullUNetDistillation(teacher: teacher, student: student, target: target), noiseScheduler: noiseScheduler,
      config: config, device: device)
  }

  /// index ~ U{0..N-1}, noise ~ N(0, 1) like the latents (on their device, from `generator`),
  /// w ~ U[w_min, w_max] (on the CPU, from `hostGenerator`, default `generator`), as the script draws them.
  /// `parallel`: drawn for the global batch, this rank's rows kept (DataParallel).
  public func draw(latents: Tensor, generator: Generator? = nil, hostGenerator: Generator? = nil, parallel: DataParallel? = nil) throws -> LCDRandomness {
    let shape = parallel?.global(latents.shape) ?? latents.shape
    let b = shape[0]
    let index = try Tensor.randint(0, config.numDDIMTimesteps, [b], device: latents.device, generator: generator)
    let noise = try Tensor.randn(shape, dtype: latents.dtype, device: latents.device, generator: generator)
    let w = try Tensor.rand([b], generator: hostGenerator ?? generator) * (config.wMax - config.wMin) + config.wMin
    guard let parallel else { return LCDRandomness(index: index, noise: noise, w: w) }
    return LCDRandomness(index: try parallel.rows(index), noise: try parallel.rows(noise), w: try parallel.rows(w))
  }

  public struct Output {
    public let loss: Tensor
    public let modelPred: Tensor
    public let target: Tensor
    public let xPrev: Tensor
  }

  /// The loss of one batch; gradients flow into the student only.
  public func loss(latents: Tensor, promptEmbeds: Tensor, uncondPromptEmbeds: Tensor, randomness r: LCDRandomness) throws -> Output {
    try loss(latents: latents, conditioning: Conditioning(promptEmbeds: promptEmbeds),
             unconditional: Conditioning(promptEmbeds: uncondPromptEmbeds), randomness: r)
  }

  /// The loss of one batch with the prompt's conditioning and the teacher's unconditional one.
  public func loss(latents: Tensor, conditioning: Conditioning, unconditional: Conditioning, randomness r: LCDRandomness) throws -> Output {
    let pt = noiseScheduler.config.predictionType
    let nd = latents.rank
    let startTimesteps = try solver.ddimTimesteps.gather(dim: 0, index: r.index)
    // integer arithmetic as the script's (int64 - int, then where(t < 0, 0, t))
    let shifted = try startTimesteps - Tensor(scalar: Double(topk), dtype: .int64, device: startTimesteps.device)
    let timesteps = try Tensor.where(shifted.lt(0), shifted.zerosLike(), shifted)
    var (cSkipStart, cOutStart) = try scalingsForBoundaryConditions(timestep: startTimesteps, timestepScaling: config.timestepScalingFactor)
    (cSkipStart, cOutStart) = (try appendDims(cSkipStart, nd), try appendDims(cOutStart, nd))
    var (cSkip, cOut) = try scalingsForBoundaryConditions(timestep: timesteps, timestepScaling: config.timestepScalingFactor)
    (cSkip, cOut) = (try appendDims(cSkip, nd), try appendDims(cOut, nd))
    let noisy = try noiseScheduler.addNoise(originalSamples: latents, noise: r.noise, timesteps: startTimesteps)
    // S1 embeds w for the student and target; S2 uses w only in the teacher's CFG
    let wEmbedding = try method.guidanceEmbeddingDim.map { dim in
      try guidanceScaleEmbedding(w: r.w, embeddingDim: dim).to(latents.device, latents.dtype)
    }
    let w = try r.w.reshape([latents.size(0), 1, 1, 1]).to(latents.device, latents.dtype)

    let kind = latents.device.kind
    func autocasting(_ body: () throws -> Tensor) throws -> Tensor {
      guard let dtype = config.autocast else { return try body() }
      return try Torch.autocast(kind, dtype: dtype, body)
    }
    // the online student and the target see fp32 prompt embeddings, as the script passes them
    let studentConditioning = try conditioning.to(.float32)

    // online student (with grad)
    let noisePred = try autocasting {
      try method.student(noisy, timestep: startTimesteps, conditioning: studentConditioning, timestepCond: wEmbedding)
    }.to(.float32)
    let predX0 = try predictedOriginalSample(
      modelOutput: noisePred, timesteps: startTimesteps, sample: noisy, predictionType: pt, alphas: alphaSchedule, sigmas: sigmaSchedule)
    let modelPred = try cSkipStart * noisy + cOutStart * predX0

    let (xPrev, targetValue) = try Torch.noGrad { () throws -> (Tensor, Tensor) in
      // the script's two teacher calls (prompt, then empty prompt) as one batch: the same maths,
      // half the kernel launches and fuller kernels. Its teacher autocast has no dtype (fp16 on
      // CUDA even in bf16 runs); here the run's dtype, inputs in the teacher's dtype as the script
      let dt = method.teacherDType
      let out = try (config.teacherAutocast ? autocasting : { try $0() }) {
        try method.teacher(
          Tensor.cat([noisy, noisy]).to(dt), timestep: Tensor.cat([startTimesteps, startTimesteps]),
          conditioning: conditioning.to(dt).batched(with: unconditional.to(dt)))
      }.chunk(2)
      func predictions(_ out: Tensor) throws -> (Tensor, Tensor) {
        (try predictedOriginalSample(modelOutput: out, timesteps: startTimesteps, sample: noisy, predictionType: pt, alphas: alphaSchedule, sigmas: sigmaSchedule),
         try predictedNoise(modelOutput: out, timesteps: startTimesteps, sample: noisy, predictionType: pt, alphas: alphaSchedule, sigmas: sigmaSchedule))
      }
      let (condX0, condEps) = try predictions(out[0])
      let (uncondX0, uncondEps) = try predictions(out[1])
      // LCM-form CFG on both x0 and ε, then one DDIM step (float64, as the script's solver table)
      let cfgX0 = try condX0 + w * (condX0 - uncondX0)
      let cfgEps = try condEps + w * (condEps - uncondEps)
      let xPrev = try solver.ddimStep(predX0: cfgX0, predNoise: cfgEps, timestepIndex: r.index)
      let targetOut = try autocasting {
        try method.target(xPrev.to(.float32), timestep: timesteps, conditioning: studentConditioning, timestepCond: wEmbedding)
      }
      let targetX0 = try predictedOriginalSample(
        modelOutput: targetOut, timesteps: timesteps, sample: xPrev, predictionType: pt, alphas: alphaSchedule, sigmas: sigmaSchedule)
      return (xPrev, try cSkip * xPrev + cOut * targetX0)
    }
    let (pred, tgt) = (try modelPred.to(.float32), try targetValue.to(.float32))
    let loss: Tensor
    switch config.lossType {
    case .l2: loss = try F.mseLoss(pred, tgt)
    case .huber:
      let c = config.huberC
      loss = try (((pred - tgt).square() + c * c).sqrt() - c).mean()
    }
    return Output(loss: loss, modelPred: modelPred, target: targetValue, xPrev: xPrev)
  }
}

/// `update_ema`: θ_target ← rate·θ_target + (1 − rate)·θ_online, parameter by parameter name
/// (two stores that do not hold the same names are an error, never a silent mismatch).
public func updateEMA(target: ParameterStore, source: ParameterStore, rate: Double) throws {
  let targets = target.parameters.filter { !$0.isBuffer }
  var t: [Tensor] = [], s: [Tensor] = []
  t.reserveCapacity(targets.count)
  s.reserveCapacity(targets.count)
  for p in targets {
    guard let q = source[p.name], !q.isBuffer, q.tensor.shape == p.tensor.shape else {
      throw TorchError(op: "update_ema", message: "the online model has no parameter '\(p.name)' of shape \(p.tensor.shape)")
    }
    t.append(p.tensor)
    s.append(q.tensor)
  }
  guard t.count == source.parameters.filter({ !$0.isBuffer }).count else {
    throw TorchError(op: "update_ema", message: "the online model has parameters the target lacks")
  }
  try Torch.noGrad { () throws(TorchError) in
    try Foreach.mul_(t, rate)
    try Foreach.add_(t, s, alpha: 1 - rate)
  }
}
