"""Names shared by every module: the CelebA attributes, the label, file names of the layouts."""

# The 40 CelebA attributes in the order of list_attr_celeba.
ATTRIBUTES: tuple[str, ...] = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows",
    "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup",
    "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard",
    "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks", "Sideburns",
    "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat",
    "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)  # fmt: skip

LABEL_ATTRIBUTE = "Male"
CLASS_NAMES: tuple[str, str] = ("female", "male")  # label 0, label 1
IMAGE_WIDTH, IMAGE_HEIGHT = 178, 218  # aligned CelebA

# ImageNet normalisation used by torchvision's VGG16_Weights.IMAGENET1K_V1.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# The study's published test accuracies (percent), keyed by (strategy, learning rate). Source:
# the study's write-up, "Results" (the paragraph comparing validation and test performance: s2
# lr 1e-4 96.37%, s1 lr 1e-4 95.1%, s1 lr 1e-3 94.8%, s2 lr 1e-3 57.73%, a collapse to one class).
PUBLISHED_TEST_ACCURACY: dict[tuple[int, float], float] = {
    (1, 1e-3): 94.8,
    (2, 1e-3): 57.73,
    (1, 1e-4): 95.1,
    (2, 1e-4): 96.37,
}

# Layout files (relative to data.root).
KAGGLE_ATTR = "list_attr_celeba.csv"
KAGGLE_IMAGES = ("img_align_celeba/img_align_celeba", "img_align_celeba")
CELEBA30K_ATTR = "CelebA30k.csv"
CELEBA30K_IMAGES = "CelebA30k"
ORIGINAL_ATTR = "celeba/list_attr_celeba.txt"
ORIGINAL_IMAGES = "celeba/img_align_celeba"
# The Hugging Face Hub's parquet shards (celeba_gender.parquet): in data.root itself or in the
# Hub repository's config folder under it.
HUB_CONFIG = "img_align+identity+attr"
HUB_FIRST_SHARD = "train-00000-of-*.parquet"  # how the layout is named in messages
# The attribute file of each layout (data.format), relative to data.root.
LAYOUT_ATTRIBUTE_FILES: dict[str, str] = {
    "kaggle": KAGGLE_ATTR,
    "celeba30k": CELEBA30K_ATTR,
    "original": ORIGINAL_ATTR,
    "huggingface": HUB_FIRST_SHARD,
}


def format_lr(lr: float | str) -> str:
    """A stable, readable learning-rate token, the same in model names, figures and tables:
    0.001 -> 1e-3, 0.00025 -> 2.5e-4, 6e-05 -> 6e-5."""
    mantissa, exponent = f"{float(lr):e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"
