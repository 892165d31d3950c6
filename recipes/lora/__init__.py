"""LoRA adapters for the toy model (chapter 06): train with peft, resolve shipped names, load."""
