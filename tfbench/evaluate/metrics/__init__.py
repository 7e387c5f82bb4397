"""Metric registry: one file per metric; ids carry their backbone where several exist."""

from tfbench.registry import Registry

METRICS: Registry = Registry("metric", entry_point_group="tfbench.metrics")
METRICS.add("psnr", "tfbench.evaluate.metrics.psnr:PSNR")
METRICS.add("ssim", "tfbench.evaluate.metrics.ssim:SSIM")
METRICS.add("mse", "tfbench.evaluate.metrics.mse:MSE")
METRICS.add("lpips@alex", "tfbench.evaluate.metrics.lpips:LPIPSAlex")
METRICS.add("lpips@vgg", "tfbench.evaluate.metrics.lpips:LPIPSVGG")
METRICS.add("lmd@dlib", "tfbench.evaluate.metrics.lmd:LMDDlib")
METRICS.add("lmd@fan", "tfbench.evaluate.metrics.lmd:LMDFan")
METRICS.add("csim@dlib", "tfbench.evaluate.metrics.csim:CSIMDlib")
METRICS.add("csim@arcface", "tfbench.evaluate.metrics.csim:CSIMArcFace")
METRICS.add("efd@fer", "tfbench.evaluate.metrics.efd:EFDFer")
METRICS.add("efd@fan", "tfbench.evaluate.metrics.efd:EFDFan")
METRICS.add("fid", "tfbench.evaluate.metrics.fid:FID")
METRICS.add("lse", "tfbench.evaluate.metrics.lse:LSE")
METRICS.add("fvd", "tfbench.evaluate.metrics.fvd:FVD")
METRICS.add("cpbd", "tfbench.evaluate.metrics.cpbd:CPBD")
