import ArgumentParser
import ImageCodecs

// The flags of train_lcm_distill_sd_wds.py in the script's own sections and order, same names,
// types and defaults; `lcm distill --help` shows one titled section per group.

struct ModelLoadingOptions: ParsableArguments {
  @Option(name: .customLong("pretrained_teacher_model"), help: "The teacher: a diffusers SD 1.x / 2.x pipeline folder or a hub id in the local cache.")
  var pretrainedTeacherModel: String
  @Option(name: .customLong("pretrained_vae_model_name_or_path"), help: "A VAE folder or hub id used instead of the teacher's (in the mixed-precision dtype).")
  var pretrainedVAE: String?
  @Option(name: .customLong("teacher_revision"), help: "Revision of the teacher on the hub cache.") var teacherRevision: String?
  @Option(name: .customLong("revision"), help: "Revision of the validation pipeline (must match --teacher_revision: validation reuses the loaded teacher).")
  var revision: String?
}

struct GeneralOptions: ParsableArguments {
  @Option(name: .customLong("output_dir"), help: "Where the checkpoints, logs, validation images and final UNets go.") var outputDir = "lcm-xl-distilled"
  @Option(name: .customLong("cache_dir"), help: "The Hugging Face hub cache to find hub ids in.") var cacheDir: String?
  @Option(name: .customLong("seed"), help: "Seed for reproducible training (random when absent).") var seed: UInt64?
  @Flag(name: .customLong("overwrite_output_dir"), help: "Start a fresh run in an --output_dir that holds checkpoints of an earlier run (they are removed).")
  var overwriteOutputDir = false
}

struct LoggingOptions: ParsableArguments {
  @Option(name: .customLong("logging_dir"), help: "TensorBoard logs, under --output_dir.") var loggingDir = "logs"
  @Option(name: .customLong("report_to"), help: "tensorboard or none; network trackers (wandb, comet_ml, all) warn and log to TensorBoard.")
  var reportTo = "tensorboard"
}

struct CheckpointingOptions: ParsableArguments {
  @Option(name: .customLong("checkpointing_steps"), help: "Write checkpoint-N/ every this many steps.") var checkpointingSteps = 500
  @Option(name: .customLong("checkpoints_total_limit"), help: "Keep at most this many checkpoints (older ones pruned after a new one is complete).")
  var checkpointsTotalLimit: Int?
  @Option(name: .customLong("resume_from_checkpoint"), help: "latest, a checkpoint-N name in --output_dir, or a checkpoint folder.")
  var resumeFromCheckpoint: String?
}

struct ImageProcessingOptions: ParsableArguments {
  @Option(name: .customLong("train_shards_path_or_url"), help: "WebDataset shards: brace ranges, '::' lists, file:, pipe:CMD, http(s)://.")
  var trainShards: String?
  @Option(name: .customLong("train_data_dir"), help: "An image folder (metadata.jsonl or .txt captions) instead of shards.") var trainDataDir: String?
  @Option(name: .customLong("dataset_name"), help: "A datasets folder (parquet, Arrow, save_to_disk, imagefolder) or a hub dataset id in the local cache (S5).")
  var datasetName: String?
  @Option(name: .customLong("dataset_config_name"), help: "The dataset's configuration (its subfolder).") var datasetConfigName: String?
  @Option(name: .customLong("image_column"), help: "The dataset's image column.") var imageColumn = "image"
  @Option(name: .customLong("caption_column"), help: "The dataset's caption column (text, or a list of texts: one drawn per epoch).")
  var captionColumn = "text"
  @Option(name: .customLong("encode_batch_size"), help: "Accepted as S5's flag, which it never reads (--vae_encode_batch_size is used).")
  var encodeBatchSize = 8
  @Option(name: .customLong("resolution"), help: "Training images are resized and cropped to this (a multiple of 8; default 512, 1024 for an SDXL teacher).")
  var resolution: Int?
  @Option(name: .customLong("interpolation_type"), help: "Resize filter: bilinear, bicubic, nearest, lanczos, box or hamming.")
  var interpolationType = "bilinear"
  @Flag(name: .customLong("center_crop"), help: "Crop the centre (else a random crop).") var centerCrop = false
  @Flag(name: .customLong("random_flip"), help: "Flip images horizontally at random.") var randomFlip = false
  @Flag(name: .customLong("use_fix_crop_and_size"), help: "SDXL: micro-condition every sample on (resolution, resolution) with no crop, as the SDXL scripts' flag.")
  var useFixCropAndSize = false
  @Option(name: .customLong("wds_filter"), help: "The SDXL scripts' WebdatasetFilter on shards: auto (on for an SDXL teacher), on or off.")
  var wdsFilter = "auto"
  @Option(name: .customLong("wds_min_size"), help: "WebdatasetFilter: smallest json width and height kept (the scripts' MIN_SIZE).")
  var wdsMinSize = 700.0
  @Option(name: .customLong("wds_max_pwatermark"), help: "WebdatasetFilter: largest json pwatermark kept.") var wdsMaxPWatermark = 0.5
  @Option(name: .customLong("wds_json_width_key"), help: "WebdatasetFilter: the json's width key (original_width for LAION).")
  var wdsJSONWidthKey = "width"
  @Option(name: .customLong("wds_json_height_key"), help: "WebdatasetFilter: the json's height key (original_height for LAION).")
  var wdsJSONHeightKey = "height"
}

struct DataloaderOptions: ParsableArguments {
  @Option(name: .customLong("dataloader_num_workers"), help: "Decoding threads (0: one, on its own thread).") var dataloaderNumWorkers = 0
}

struct BatchAndStepsOptions: ParsableArguments {
  @Option(name: .customLong("train_batch_size"), help: "Batch size per step (per process).") var trainBatchSize = 16
  @Option(name: .customLong("num_train_epochs"), help: "Epochs of --max_train_samples, when --max_train_steps is absent.") var numTrainEpochs = 100
  @Option(name: .customLong("max_train_steps"), help: "Optimizer steps to train for.") var maxTrainSteps: Int?
  @Option(name: .customLong("max_train_samples"), help: "Nominal dataset size for the epoch arithmetic.") var maxTrainSamples: Int?
}

struct LearningRateOptions: ParsableArguments {
  @Option(name: .customLong("learning_rate"), help: "Initial learning rate (after warm-up).") var learningRate = 1e-4
  @Flag(name: .customLong("scale_lr"), help: "Multiply the learning rate by accumulation steps × batch size × processes.") var scaleLR = false
  @Option(name: .customLong("lr_scheduler"), help: "constant, constant_with_warmup, linear, cosine, cosine_with_restarts or polynomial.")
  var lrScheduler = "constant"
  @Option(name: .customLong("lr_warmup_steps"), help: "Steps of linear warm-up.") var lrWarmupSteps = 500
  @Option(name: .customLong("gradient_accumulation_steps"), help: "Batches accumulated per optimizer step.") var gradientAccumulationSteps = 1
}

struct OptimizerOptions: ParsableArguments {
  @Flag(name: .customLong("use_8bit_adam"), help: "AdamW with 8-bit block-wise moments (bitsandbytes' AdamW8bit algorithm): ~2 bytes of state per parameter.")
  var use8bitAdam = false
  @Option(name: .customLong("adam_beta1"), help: "AdamW beta1.") var adamBeta1 = 0.9
  @Option(name: .customLong("adam_beta2"), help: "AdamW beta2.") var adamBeta2 = 0.999
  @Option(name: .customLong("adam_weight_decay"), help: "AdamW (decoupled) weight decay.") var adamWeightDecay = 1e-2
  @Option(name: .customLong("adam_epsilon"), help: "AdamW epsilon.") var adamEpsilon = 1e-8
  @Option(name: .customLong("max_grad_norm"), help: "Gradients are clipped to this total norm.") var maxGradNorm = 1.0
}

struct DiffusionTrainingOptions: ParsableArguments {
  @Option(name: .customLong("proportion_empty_prompts"), help: "Share of captions replaced by the empty prompt (the script ignores it; honoured here).")
  var proportionEmptyPrompts = 0.0
}

struct LCDOptions: ParsableArguments {
  @Option(name: .customLong("w_min"), help: "Smallest guidance scale w drawn per sample (default 5.0, 3.0 for an SDXL teacher).") var wMin: Double?
  @Option(name: .customLong("w_max"), help: "Largest guidance scale w drawn per sample.") var wMax = 15.0
  @Option(name: .customLong("num_ddim_timesteps"), help: "Steps of the DDIM solver's schedule.") var numDDIMTimesteps = 50
  @Option(name: .customLong("loss_type"), help: "l2 or huber.") var lossType = "l2"
  @Option(name: .customLong("huber_c"), help: "The Huber loss's c.") var huberC = 0.001
  @Option(name: .customLong("unet_time_cond_proj_dim"), help: "Size of the guidance-scale embedding added to the student (when the teacher has none).")
  var unetTimeCondProjDim = 256
  @Option(name: .customLong("vae_encode_batch_size"), help: "Images per VAE encode call (default 32, 8 for an SDXL teacher).") var vaeEncodeBatchSize: Int?
  @Option(name: .customLong("timestep_scaling_factor"), help: "Scales the timestep in the boundary-condition scalings c_skip, c_out.")
  var timestepScalingFactor = 10.0
}

struct EMAOptions: ParsableArguments {
  @Option(name: .customLong("ema_decay"), help: "The target UNet's exponential moving average decay.") var emaDecay = 0.95
}

struct MixedPrecisionOptions: ParsableArguments {
  @Option(name: .customLong("mixed_precision"), help: "no, fp16 or bf16 (autocast with fp32 trainable weights; fp16 adds loss scaling).")
  var mixedPrecision: String?
  @Flag(name: .customLong("allow_tf32"), help: "Allow TF32 matmuls on Ampere and newer GPUs.") var allowTF32 = false
  @Flag(name: .customLong("cast_teacher_unet"), help: "Keep the teacher's weights in the mixed-precision dtype.") var castTeacherUNet = false
  @Flag(name: .customLong("teacher_no_autocast"), help: "Run the teacher outside autocast, in its weights' dtype (S4 does so for teachers named 'playground').")
  var teacherNoAutocast = false
}

struct TrainingOptimizationOptions: ParsableArguments {
  @Flag(name: .customLong("enable_xformers_memory_efficient_attention"), help: "Accepted: attention already uses torch's memory-efficient SDPA kernels.")
  var enableXformers = false
  @Flag(name: .customLong("gradient_checkpointing"), help: "Recompute the student's activations in backward to save memory.")
  var gradientCheckpointing = false
}

struct DistributedTrainingOptions: ParsableArguments {
  @Option(name: .customLong("local_rank"), help: "Accepted for launchers; one process trains.") var localRank = -1
}

struct ValidationOptions: ParsableArguments {
  @Option(name: .customLong("validation_steps"), help: "Write validation images every this many steps.") var validationSteps = 200
  @Option(name: .customLong("validation_prompts"), parsing: .upToNextOption, help: "Prompts for validation (default: the script's four).")
  var validationPrompts: [String] = []
}

struct HubOptions: ParsableArguments {
  @Flag(name: .customLong("push_to_hub"), help: "Warns (no network) and prints the command that uploads --output_dir at the end.") var pushToHub = false
  @Option(name: .customLong("hub_token"), help: "Used only in the printed upload command, as $HF_TOKEN.") var hubToken: String?
  @Option(name: .customLong("hub_model_id"), help: "The repository of the printed upload command.") var hubModelID: String?
}

struct AccelerateOptions: ParsableArguments {
  @Option(name: .customLong("tracker_project_name"), help: "TensorBoard run folder under --logging_dir.") var trackerProjectName = "text2image-fine-tune"
}

struct SwiftLCMOptions: ParsableArguments {
  @Option(name: .customLong("device"), help: "cpu or cuda[:N] (default: cuda when a GPU is present, else cpu).") var device: String?
}

/// The LCD section of train_lcm_distill_lora_sd_wds.py: the LoRA flags take the guidance
/// embedding's place.
struct LoRALCDOptions: ParsableArguments {
  @Option(name: .customLong("w_min"), help: "Smallest guidance scale w drawn per sample, used in the teacher's CFG (default 5.0, 3.0 for an SDXL teacher).")
  var wMin: Double?
  @Option(name: .customLong("w_max"), help: "Largest guidance scale w drawn per sample.") var wMax = 15.0
  @Option(name: .customLong("num_ddim_timesteps"), help: "Steps of the DDIM solver's schedule.") var numDDIMTimesteps = 50
  @Option(name: .customLong("loss_type"), help: "l2 or huber.") var lossType = "l2"
  @Option(name: .customLong("huber_c"), help: "The Huber loss's c.") var huberC = 0.001
  @Option(name: .customLong("lora_rank"), help: "The rank of the LoRA matrices.") var loraRank = 64
  @Option(name: .customLong("lora_alpha"), help: "LoRA alpha: the update is scaled by alpha / rank.") var loraAlpha = 64
  @Option(name: .customLong("lora_dropout"), help: "Dropout before lora_A.") var loraDropout = 0.0
  @Option(name: .customLong("lora_target_modules"), help: "Comma-separated module-name suffixes to adapt (default: the script's list).")
  var loraTargetModules: String?
  @Option(name: .customLong("vae_encode_batch_size"), help: "Images per VAE encode call (default 32, 8 for an SDXL teacher).") var vaeEncodeBatchSize: Int?
  @Option(name: .customLong("timestep_scaling_factor"), help: "Scales the timestep in the boundary-condition scalings c_skip, c_out.")
  var timestepScalingFactor = 10.0
}

/// swift-lcm's LoRA additions (docs/parity.md).
struct LoRAExtraOptions: ParsableArguments {
  @Flag(name: .customLong("use_target_model"), help: "Target = an EMA copy of the adapters (--ema_decay) instead of the online model.")
  var useTargetModel = false
  @Option(name: .customLong("ema_decay"), help: "The EMA decay of --use_target_model.") var emaDecay = 0.95
  @Option(name: .customLong("lora_export_format"), help: "Final LoRA files: kohya, diffusers or both (PEFT's adapter folder is always written).")
  var loraExportFormat = "both"
}
