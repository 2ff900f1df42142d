"""The app's screens (one tab each) and its modal prompts."""
