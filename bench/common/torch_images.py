"""Image files as torchvision reads them, for the PyTorch side of ftk's benchmarks: PIL decode,
RGB, Resize to 224x224 (bilinear), ToTensor (/255), ImageNet mean/std. Imported by
bench/extract/torch_extract.py and bench/onnx/torchvision_models.py."""
from PIL import Image
from torch.utils.data import Dataset
from torchvision import transforms

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


class ImageFiles(Dataset):
    def __init__(self, files):
        self.files = files
        self.tf = transforms.Compose([
            transforms.Resize((224, 224), interpolation=transforms.InterpolationMode.BILINEAR),
            transforms.ToTensor(),
            transforms.Normalize(MEAN, STD),
        ])

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        with Image.open(self.files[i]) as img:
            return self.tf(img.convert('RGB'))
