"""AzureML Artifact Explorer: the language server and CLI behind the VS Code extension."""

__version__ = "0.1.0"
