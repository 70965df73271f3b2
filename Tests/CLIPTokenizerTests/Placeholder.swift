import CLIPTokenizer
import Testing
