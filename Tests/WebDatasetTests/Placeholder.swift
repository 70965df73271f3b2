import ImageCodecs
import Testing
import WebDataset
